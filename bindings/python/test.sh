#!/usr/bin/env bash
# Everything CI needs for the Python package, from a clean checkout, from any folder:
#   rustfmt + clippy (-D warnings) for the pyo3 crate, a fresh virtual environment with pinned
#   tools, a PEP 517 build of bindings/python (the same path as `pip install ./bindings/python`)
#   into an abi3 wheel, the pytest suite (with the wire types checked against the core's JSON
#   Schema by jsonschema), mypy.stubtest over the package and mypy --strict over
#   the package, the tests and the example.
# Needs: cargo (stable) and python3 >= 3.10 with venv + pip; PyPI and crates.io reachable.
# Env: PYTHON (default python3), CARGO_TARGET_DIR (default <repo>/target/python).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/python}"
WORK="$ROOT/target/python-ci"
VENV="$WORK/venv"
MATURIN_VERSION=1.16.0
PYTEST_VERSION=9.2.0
MYPY_VERSION=2.4.1
# The wire-schema test validates native outputs against registry-core/wire-schema.json.
JSONSCHEMA_VERSION=4.26.0
TYPES_JSONSCHEMA_VERSION=4.26.0.20261006

echo "== cargo fmt --check, clippy -D warnings (bindings/python)"
cargo fmt --manifest-path "$HERE/Cargo.toml" -- --check
cargo clippy --locked --manifest-path "$HERE/Cargo.toml" --all-targets -- -D warnings

echo "== virtual environment ($VENV)"
rm -rf "$VENV" "$WORK/wheels"
mkdir -p "$WORK"
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check \
  "maturin==$MATURIN_VERSION" "pytest==$PYTEST_VERSION" "mypy==$MYPY_VERSION" \
  "jsonschema==$JSONSCHEMA_VERSION" "types-jsonschema==$TYPES_JSONSCHEMA_VERSION"

echo "== build the wheel (PEP 517, as pip install ./bindings/python does) and install it"
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/wheels" "$HERE"
WHEEL="$(ls "$WORK"/wheels/deckhouse_registry-*.whl)"
echo "built $(basename "$WHEEL")"
case "$(basename "$WHEEL")" in
  *-cp310-abi3-*) ;;
  *) echo "expected an abi3 (cp310) wheel" >&2; exit 1 ;;
esac
"$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall "$WHEEL"

# Run from a folder outside the source tree, so the installed package is what gets imported.
cd "$WORK"

echo "== pytest"
"$PY" -m pytest -p no:cacheprovider --rootdir "$HERE" -c "$HERE/pyproject.toml" "$HERE/tests"

echo "== mypy.stubtest deckhouse_registry"
"$PY" -m mypy.stubtest deckhouse_registry --allowlist "$HERE/stubtest-allowlist.txt"

echo "== mypy --strict (the installed package; the tests and the example)"
"$PY" -m mypy --strict --cache-dir "$WORK/mypy-cache" -p deckhouse_registry
"$PY" -m mypy --strict --cache-dir "$WORK/mypy-cache" "$HERE/tests" "$ROOT/examples/python/render_and_store.py"

echo "== python bindings: all checks passed"
