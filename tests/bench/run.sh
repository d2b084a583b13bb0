#!/usr/bin/env bash
# The benchmark in one command: builds the release fjq, makes the Python environment (DuckDB),
# generates the data if needed, checks and times every query. Arguments go to run.py
# (e.g. --scale 0.1 --runs 3 --only pathway).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p fjq
if ! .venv/bin/python -c "import duckdb" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
exec .venv/bin/python tests/bench/run.py "$@"
