#!/usr/bin/env bash
# The whole test suite: makes the Python environment the interop tests need (.venv, from
# tests/requirements.txt), then runs every Rust test and prints the total at the end.
# Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv/bin/python -c "import duckdb, pyarrow.flight, adbc_driver_flightsql.dbapi, sacro, scipy.optimize, lifelines, polars, pandas, nbclient, ipykernel" 2>/dev/null; then
  echo "tests/run.sh: creating .venv from tests/requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export FJQ_PYTHON="$PWD/.venv/bin/python"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nfjq tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
