#!/bin/sh
# Give a region its inbox topic, SCRAM principal and ACLs on the exchange, with Kafka's own
# tools (the apache/kafka image has them under /opt/kafka/bin). Same plan as
# deploy/stack/kafka_acls.py (tested against a real broker in tests/integration/).
#
#   REGION_PASSWORD=... join-region.sh <region> <bootstrap> <admin.properties>
#
# The password is read from the environment and written to a 0600 file for kafka-configs:
# never on a command line, where every user of the host sees it in the process list.
set -eu
region=$1 bootstrap=$2 admin=$3
: "${REGION_PASSWORD:?set REGION_PASSWORD}"
bin=${KAFKA_BIN:-/opt/kafka/bin}
user="region-$region" topic="tongban.inbox.$region" group="tongban-node-$region"

"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --command-config "$admin" \
  --create --if-not-exists --topic "$topic" --partitions 3 --replication-factor 3 \
  --config min.insync.replicas=2

umask 077
creds=$(mktemp)
trap 'rm -f "$creds"' EXIT
printf 'SCRAM-SHA-512=[iterations=8192,password=%s]\n' "$REGION_PASSWORD" > "$creds"
"$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --command-config "$admin" \
  --alter --entity-type users --entity-name "$user" --add-config-file "$creds"

acl() { "$bin/kafka-acls.sh" --bootstrap-server "$bootstrap" --command-config "$admin" --add "$@"; }
# Read: its own inbox and its own consumer group, nothing else.
acl --allow-principal "User:$user" --operation Read --topic "$topic" --group "$group"
# Write: every inbox (regions that join later included) ...
acl --allow-principal "User:$user" --operation Write --topic tongban.inbox. \
  --resource-pattern-type prefixed
# ... except its own: DENY wins over ALLOW.
acl --deny-principal "User:$user" --operation Write --topic "$topic"
