"""The example script runs against the installed package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "render_and_store.py"


def test_example_script_runs() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "invalid.yaml: 8 problems" in done.stdout
    assert "route: Local -> Direct -> Proxy" in done.stdout
    assert "example-password" not in done.stdout
