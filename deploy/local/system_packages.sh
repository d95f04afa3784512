# Sourced by bootstrap.sh and demo.sh: the system packages both need, installed with apt-get
# when running as root, else named and the script stops.

_apt_install() {
  local who=$1 why=$2
  shift 2
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $* with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
  else
    echo "$who needs: $* ($why)" >&2
    exit 1
  fi
}

# Java 17+ and Maven resolve and run the local Kafka.
ensure_java_and_maven() {
  local need=()
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  if ((${#need[@]})); then
    _apt_install "$1" "Java 17+ and Maven run the local Kafka" "${need[@]}"
  fi
}

# The CJK TrueType font every signed document embeds (decision 0025); TONGBAN_CJK_FONT names
# another one.
ensure_cjk_font() {
  if [ -z "${TONGBAN_CJK_FONT:-}" ] && [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
    _apt_install "$1" "documents embed a CJK font; or set TONGBAN_CJK_FONT" fonts-wqy-zenhei
  fi
}
