#!/usr/bin/env bash
# The soak benchmark (issue 11): mixed OTLP/gRPC load (spans, log lines, metric points, each
# from its own `lookout loadgen`) at a share of the measured maximum for an hour, with queries
# of the three kinds every 30 s, and the server's memory, latency and disk use recorded per
# minute. First a probe of PROBE seconds sends as fast as the server takes it (the maximum of
# this mix on this machine, generators included); then each signal is sent at SHARE of the
# rate it reached.
#
#   cargo build --release && benches/soak.sh /tmp/soak && python3 benches/soak-summary.py /tmp/soak
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
PROBE=${PROBE:-60}
SHARE=${SHARE:-0.5}
# The metrics head holds up to one and a half block ranges of samples; at the default range
# (2 h) its memory only stops growing after three hours. A 10-minute range lets the hour show
# the plateau; BLOCK_RANGE=2h DURATION=14400 shows the default's.
BLOCK_RANGE=${BLOCK_RANGE:-10m}
# Retention and log partition length; REPORT is the load generators' window.
RETENTION=${RETENTION:-30m}
PARTITION=${PARTITION:-10m}
REPORT=${REPORT:-60s}
BIN=${BIN:-./target/release/lookout}
OUT=${1:-$(mktemp -d /tmp/lookout-soak.XXXX)}
mkdir -p "$OUT"
DATA=$(mktemp -d /tmp/lookout-soak-data.XXXX)
trap 'kill $PID 2>/dev/null && wait $PID; rm -rf "$DATA"' EXIT
read -r HTTP GRPC OTLP_HTTP < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

echo "machine=$(nproc) cores, block_range=$BLOCK_RANGE, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); commit=$(git rev-parse --short HEAD)" | tee "$OUT/run.txt"
# Data past half an hour is deleted as the run goes (log partitions of 10 minutes), so that
# block cuts, commits, merges and retention all happen during the hour, and the disk holds it.
cat >"$OUT/config.yaml" <<YAML
traces:
  retention: $RETENTION
metrics:
  retention: $RETENTION
  block_range: $BLOCK_RANGE
logs:
  retention: $RETENTION
  partition: $PARTITION
YAML
$BIN serve --data-dir "$DATA" --config.file "$OUT/config.yaml" --http.listen-address 127.0.0.1:$HTTP \
  --otlp.grpc.listen-address 127.0.0.1:$GRPC --otlp.http.listen-address 127.0.0.1:$OTLP_HTTP \
  --log.level warn &
PID=$!
until curl -sf http://127.0.0.1:$HTTP/-/ready >/dev/null; do sleep 0.2; done

declare -A BATCH=([traces]=500 [lines]=1000 [metrics]=1000)
# load PHASE SECONDS RATE_traces RATE_lines RATE_metrics: the three generators side by side.
load() {
  local phase=$1 seconds=$2 i=0 rates=("$3" "$4" "$5") pids=()
  for signal in traces lines metrics; do
    $BIN loadgen --endpoint http://127.0.0.1:$GRPC --signal "$signal" --batch-size "${BATCH[$signal]}" \
      --concurrency 2 --rate "${rates[$i]}" --duration "${seconds}s" --report-every $REPORT \
      --seed $((i + 1)) --server-pid $PID >"$OUT/$phase-$signal.txt" &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
}
# requests/s a phase reached for a signal, from its summary.
reached() { awk -F'[= ]' -v d="$3" '/^requests_ok=/ {printf "%.2f", $2 / d}' "$OUT/$1-$2.txt"; }

if [ -n "${RATES:-}" ]; then
  # Requests/s for traces, lines and metrics given, e.g. to compare two builds at one load.
  read -r RT RL RM <<<"$RATES"
else
  echo "== probe: ${PROBE}s as fast as taken" | tee -a "$OUT/run.txt"
  load probe "$PROBE" 0 0 0
  for signal in traces lines metrics; do
    grep -h '^items_per_s' "$OUT/probe-$signal.txt" | sed "s/^/$signal /" | tee -a "$OUT/run.txt"
  done
  RT=$(awk -v r="$(reached probe traces "$PROBE")" -v s="$SHARE" 'BEGIN {print r * s}')
  RL=$(awk -v r="$(reached probe lines "$PROBE")" -v s="$SHARE" 'BEGIN {print r * s}')
  RM=$(awk -v r="$(reached probe metrics "$PROBE")" -v s="$SHARE" 'BEGIN {print r * s}')
fi
echo "== soak: ${DURATION}s at $SHARE of that: requests/s traces=$RT lines=$RL metrics=$RM" | tee -a "$OUT/run.txt"

# Queries every 30 s over the last 15 minutes, and the data's size every minute.
q() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
probe_queries() {
  local base=http://127.0.0.1:$HTTP end now
  end=$(($(date +%s) + DURATION))
  while [ "$(date +%s)" -lt "$end" ]; do
    now=$(date +%s)
    for name in promql logql traceql; do
      case $name in
        promql) url="$base/api/v1/query_range?query=$(q 'sum by (service_name) (rate(loadgen_requests_0_total[1m]))')&start=$((now - 900))&end=$now&step=15" ;;
        logql) url="$base/loki/api/v1/query_range?query=$(q 'sum by (level) (count_over_time({service_name=~".+"}[1m]))')&start=$((now - 900))&end=$now&step=60" ;;
        traceql) url="$base/api/search?q=$(q '{ status = error }')&start=$((now - 900))&end=$now&limit=20" ;;
      esac
      echo "$now $name $(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$url")" >>"$OUT/queries.txt"
    done
    if [ $((now % 60)) -lt 30 ]; then
      echo "$now $(du -sb "$DATA" | cut -f1)" >>"$OUT/disk.txt"
      # What the stores hold in memory, from Lookout's own /metrics.
      curl -s "$base/metrics" | awk -v t="$now" '/^lookout_(tsdb_head_(series|chunks|bytes)|traces_head_spans) / {print t, $1, $2}' >>"$OUT/gauges.txt"
    fi
    sleep 30
  done
}
probe_queries &
QUERIES=$!
load soak "$DURATION" "$RT" "$RL" "$RM"
kill $QUERIES 2>/dev/null || true
grep -E 'VmHWM|VmRSS' "$OUT/soak-traces.txt" | tee -a "$OUT/run.txt"
echo "results in $OUT"
