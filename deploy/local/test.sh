#!/usr/bin/env bash
# The test command: installs everything, lints and type-checks, starts the local stack
# (Kafka, Temporal dev server, Postgres) if it is not running, and runs the whole suite; then,
# on the dev stack and with no arguments, the cluster profile's smoke case (cluster-smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh

# The smoke case needs Temporal's own server, built once from its Go module and cached
# (~/.cache/tongban): a cold build takes minutes, so it runs beside the checks and the suite,
# at the lowest priority. `TONGBAN_STACK_PROFILE=cluster make test` runs everything on the
# cluster instead, and a run with arguments (a chosen set of tests) skips the smoke case.
smoke=0
if [ $# -eq 0 ] && [ "${TONGBAN_STACK_PROFILE:-default}" != cluster ]; then
  smoke=1
  build_log=$(mktemp)
  nice -n 19 .venv/bin/tongban stack build > "$build_log" 2>&1 &
  build_pid=$!
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layering contracts in pyproject.toml
.venv/bin/tongban stack up
.venv/bin/pytest -q --durations=25 "$@"  # the slowest 25: where the run's minutes go

if [ "$smoke" = 1 ]; then
  waited=$(date +%s)
  if ! wait "$build_pid"; then
    cat "$build_log"
    exit 1
  fi
  echo "$(cat "$build_log") (waited $(( $(date +%s) - waited ))s for it after the suite)"
  deploy/local/cluster-smoke.sh
fi
