#!/usr/bin/env bash
# The cluster profile's smoke case (issue 23), run by the test command after the suite: the
# production shape (Temporal's own services on PostgreSQL with mTLS, three brokers with
# SASL_SSL, RF 3) comes up beside the dev stack, a case goes between two nodes on it, a broker
# is killed under a producer, and the cluster goes down again unless it was up before.
# The whole suite on the cluster is `TONGBAN_STACK_PROFILE=cluster make test` (README).
set -euo pipefail
cd "$(dirname "$0")/../.."
export TONGBAN_STACK_PROFILE=cluster

if .venv/bin/tongban stack status --check > /dev/null 2>&1; then
  was_up=1
else
  was_up=0
  trap '.venv/bin/tongban stack down' EXIT
fi
began=$(date +%s)
.venv/bin/tongban stack up
.venv/bin/pytest -q -p no:cacheprovider \
  tests/integration/test_cluster_smoke.py \
  tests/integration/test_province_pair.py \
  tests/integration/test_eager_start.py
echo "cluster smoke: $(( $(date +%s) - began ))s (was up before: $was_up)"
