# Sourced by bootstrap.sh and demo.sh: Java 17+ and Maven, which resolve and run the local
# Kafka, installed with apt-get when running as root, else named and the script stops.
ensure_java_and_maven() {
  local who=$1
  local need_apt=()
  command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
  if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing ${need_apt[*]} with apt-get"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
      echo "$who needs: ${need_apt[*]} (Java 17+ and Maven run the local Kafka)" >&2
      exit 1
    fi
  fi
}
