#!/usr/bin/env bash
# The main job: installs everything, brings the local stack up if needed, and follows one case
# from a 福建 (350000) window to 广东 (440000) and back.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh
exec .venv/bin/tongban demo "$@"
