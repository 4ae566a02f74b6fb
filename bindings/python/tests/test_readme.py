"""The README's snippet runs as written (from the repository root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "bindings" / "python" / "README.md"


def test_readme_snippet_runs() -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    env = dict(os.environ)
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=False, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "['TransitionNotSupported'] ['Local', 'Direct', 'Proxy']" in done.stdout
    assert "Secret('<redacted>')" in done.stdout
