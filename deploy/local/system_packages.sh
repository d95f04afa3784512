# Sourced by demo.sh and bootstrap.sh: the system packages each command uses.
#
#   ensure_demo_packages  what `make demo` runs: Python's venv, Java 17+ and Maven (they resolve
#                         and run the local Kafka), the CJK font the signed documents embed;
#   ensure_test_packages  all of that, plus what only the tests use: Chromium (the browser
#                         tests and the swimlane page), poppler-utils (pdftoppm, pdftotext
#                         read the documents back) and docker-compose (its `config` validates
#                         the production compose file; no container engine is needed).
#
# A package is installed only when it is missing, by name, with apt-get as root: never an
# upgrade of anything installed (no `apt-get upgrade`, `--no-upgrade` on install) and no
# recommended extras. Without root or apt-get, what the demo needs is named and the script
# stops; what only the tests need is named, and the test that needs it fails saying so.

CJK_FONT_FILE=${CJK_FONT_FILE:-/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc}
_apt_updated=""

_can_apt() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

_apt_install() {
  echo "installing $* with apt-get"
  if [ -z "$_apt_updated" ]; then
    apt-get update -qq
    _apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade --no-install-recommends "$@"
}

# Missing packages the command cannot run without: installed, or named and the script stops.
_require() {
  local who=$1 why=$2
  shift 2
  if _can_apt; then
    _apt_install "$@"
  else
    echo "$who needs: $* ($why)" >&2
    exit 1
  fi
}

# Missing packages some tests use: installed, or named (those tests fail and name this script).
_offer() {
  local why=$1
  shift
  if _can_apt; then
    _apt_install "$@"
  else
    echo "warning: $* not installed ($why); run deploy/local/bootstrap.sh as root" >&2
  fi
}

# `python3 -m venv` needs ensurepip, which Debian ships separately.
ensure_python_venv() {
  if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1; then
    _require "$1" "creates the project's .venv" python3-venv
  fi
}

ensure_java_and_maven() {
  local need=()
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  if ((${#need[@]})); then
    _require "$1" "Java 17+ and Maven run the local Kafka" "${need[@]}"
  fi
}

# The CJK TrueType font every signed document embeds (decision 0025); TONGBAN_CJK_FONT names
# another one.
ensure_cjk_font() {
  if [ -z "${TONGBAN_CJK_FONT:-}" ] && [ ! -f "$CJK_FONT_FILE" ]; then
    _require "$1" "documents embed a CJK font; or set TONGBAN_CJK_FONT" fonts-wqy-zenhei
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    _offer "the browser tests drive Debian's Chromium headless" chromium
  fi
}

ensure_poppler() {
  if ! command -v pdftoppm >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
    _offer "the document tests render and read PDFs with pdftoppm and pdftotext" poppler-utils
  fi
}

ensure_compose() {
  if ! command -v docker-compose >/dev/null 2>&1; then
    _offer "the deployment tests validate the compose file with docker-compose config" docker-compose
  fi
}

ensure_demo_packages() {
  ensure_python_venv "$1"
  ensure_java_and_maven "$1"
  ensure_cjk_font "$1"
}

ensure_test_packages() {
  ensure_demo_packages "$1"
  ensure_chromium
  ensure_poppler
  ensure_compose
}
