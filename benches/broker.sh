#!/usr/bin/env bash
# The demo broker beside RabbitMQ (Debian's rabbitmq-server) with the same client in the same run:
# amqpbench (../shared/bench/amqpbench, lapin) with 1 KiB messages, one publisher → one queue → one
# consumer acking each message, transient and persistent (durable queue, delivery mode 2,
# publisher confirms); a fanout to 4 queues with 4 consumers; and latency at a fixed 2,000 msg/s.
#
#   cargo build --release
#   (cd ../shared/bench/amqpbench && cargo build --release)
#   AMQPBENCH=../shared/bench/amqpbench/target/release/amqpbench benches/broker.sh [OUT_DIR] [MESSAGES]
#
# Each run prints amqpbench's RESULT line plus broker and client CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-broker}
N=${2:-200000}
BENCH=${AMQPBENCH:?set AMQPBENCH to the amqpbench binary}
LOOKOUT=${LOOKOUT:-target/release/lookout}
mkdir -p "$OUT"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# run PID LABEL PORT ARGS… — one amqpbench run with the broker's CPU time around it.
run() {
  local pid=$1 label=$2 port=$3; shift 3
  local f="$OUT/$label.txt" t0 t1
  t0=$(ticks "$pid")
  /usr/bin/time -f "client_cpu_s=%U+%S wall_s=%e" "$BENCH" --uri "amqp://guest:guest@127.0.0.1:$port/%2f" "$@" >"$f" 2>&1 \
    || echo "amqpbench exit $?" >>"$f"
  t1=$(ticks "$pid")
  echo "broker_cpu_s=$(echo "scale=2; ($t1-$t0)/$(getconf CLK_TCK)" | bc)" >>"$f"
  echo "== $label: $*"
  grep -E "RESULT|cpu_s|exit" "$f"
}

cases() {
  local pid=$1 name=$2 port=$3
  run "$pid" "$name-transient" "$port" --messages "$N" --size 1024
  run "$pid" "$name-persistent" "$port" --messages "$N" --size 1024 --persistent
  run "$pid" "$name-fanout4" "$port" --messages "$((N / 4))" --size 1024 --fanout 4
  run "$pid" "$name-paced2k" "$port" --messages 40000 --size 1024 --rate 2000
}

wait_port() {
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

# RabbitMQ 3.10, its data in a temporary directory.
RMQ=$(mktemp -d)
mkdir -p "$RMQ/mnesia" "$RMQ/log"
: >"$RMQ/enabled_plugins"
# Debian's rabbitmq-server runs the node as the rabbitmq user.
if id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$RMQ"; chmod 755 "$RMQ"; fi
export RABBITMQ_MNESIA_BASE=$RMQ/mnesia RABBITMQ_LOG_BASE=$RMQ/log RABBITMQ_NODE_PORT=5690 \
  RABBITMQ_NODENAME=bench@localhost RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ/enabled_plugins \
  RABBITMQ_FEATURE_FLAGS_FILE=$RMQ/feature_flags
(cd "$RMQ" && rabbitmq-server >"$OUT/rabbitmq.log" 2>&1) &
wait_port 5690
sleep 2
RPID=$(pgrep -n -x beam.smp)
echo "RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null), pid $RPID"
cases "$RPID" rabbitmq 5690
kill "$RPID"
while kill -0 "$RPID" 2>/dev/null; do sleep 0.2; done

# The demo broker, telemetry off (RabbitMQ exports none), then on with a Lookout receiving it.
DATA=$(mktemp -d)
"$LOOKOUT" broker --amqp.listen-address 127.0.0.1:5691 --amqp.management-address 127.0.0.1:15691 \
  --amqp.data-dir "$DATA/broker" --otlp.endpoint "" >"$OUT/lookout-broker.log" 2>&1 &
LPID=$!
wait_port 5691
cases "$LPID" lookout 5691
kill "$LPID"; wait "$LPID" || true

"$LOOKOUT" --data-dir "$DATA/lookout" --http.listen-address 127.0.0.1:3990 \
  --otlp.grpc.listen-address 127.0.0.1:4990 --otlp.http.listen-address 127.0.0.1:4991 >"$OUT/lookout.log" 2>&1 &
SPID=$!
wait_port 4990
"$LOOKOUT" broker --amqp.listen-address 127.0.0.1:5692 --amqp.management-address 127.0.0.1:15692 \
  --amqp.data-dir "$DATA/broker2" --otlp.endpoint http://127.0.0.1:4990 >"$OUT/lookout-broker-otel.log" 2>&1 &
LPID=$!
wait_port 5692
run "$LPID" lookout-otel-transient 5692 --messages "$N" --size 1024
run "$LPID" lookout-otel-paced2k 5692 --messages 40000 --size 1024 --rate 2000
kill "$LPID" "$SPID"; wait || true
rm -rf "$DATA" "$RMQ"
