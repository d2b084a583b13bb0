#!/usr/bin/env bash
# The whole test suite: makes the Python environment the interop tests need (.venv, from
# tests/requirements.txt), then runs every Rust test. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import duckdb" 2>/dev/null; then
  echo "tests/run.sh: creating .venv with $(tr '\n' ' ' < tests/requirements.txt | sed 's/#[^ ]* //g')"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export FJQ_PYTHON="$PWD/.venv/bin/python"
cargo test --workspace --locked "$@"
