#!/usr/bin/env bash
# Remote-write ingest into a fresh Lookout, measured the way the peers' figures are measured:
# rwgen (the load generator of ../shared/bench/rwgen) sends node-exporter-like series with every
# request encoded before the clock starts; this prints server CPU seconds, peak and current RSS,
# active series, and the bytes per sample of a snapshot (head written as compacted blocks).
#
# Usage: benches/remote-write.sh OUTDIR [-- RWGEN_ARGS]
#   RWGEN=path/to/rwgen LOOKOUT=target/release/lookout benches/remote-write.sh /tmp/rw -- \
#       --series 100000 --samples 240 --batch 2000 --concurrency 8
set -euo pipefail
OUT=$1; shift
[[ "${1:-}" == -- ]] && shift
RWGEN=${RWGEN:?set RWGEN to the rwgen binary}
LOOKOUT=${LOOKOUT:-target/release/lookout}
mkdir -p "$OUT"; DATA="$OUT/data"; rm -rf "$DATA"
PORT=${PORT:-13000}
"$LOOKOUT" serve --data-dir "$DATA" --http.listen-address "127.0.0.1:$PORT" \
  --otlp.grpc.listen-address 127.0.0.1:0 --otlp.http.listen-address 127.0.0.1:0 \
  --web.enable-admin-api --log.level warn > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done
grep VmRSS /proc/$PID/status | sed 's/^/before: /' | tee "$OUT/summary.txt"
ticks() { awk '{print $14+$15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK); T0=$(ticks)
"$RWGEN" --url "http://127.0.0.1:$PORT/api/v1/write" "$@" | tee "$OUT/rwgen.txt"
T1=$(ticks)
grep -E 'VmHWM|VmRSS|RssAnon|RssFile|Threads' /proc/$PID/status | tee -a "$OUT/summary.txt"
echo "server_cpu_s_during_ingest=$(echo "scale=2; ($T1-$T0)/$HZ" | bc)" | tee -a "$OUT/summary.txt"
SAMPLES=$(sed -n 's/.*accepted_samples=\([0-9]*\).*/\1/p' "$OUT/rwgen.txt")
SERIES=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^lookout_tsdb_head_series /{print $2}')
sleep 11; curl -s "http://127.0.0.1:$PORT/metrics" | grep -E "^lookout_tsdb_(head_bytes|head_chunks|head_series) " | tee -a "$OUT/summary.txt"
RSS_KB=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
echo "active_series=$SERIES rss_bytes_per_series=$(echo "$RSS_KB*1024/$SERIES" | bc)" | tee -a "$OUT/summary.txt"
{ curl -s -XPOST "http://127.0.0.1:$PORT/api/v1/admin/tsdb/snapshot"; echo; } | tee -a "$OUT/summary.txt"
SNAP=$(du -sb "$DATA/metrics/snapshots" | cut -f1)
echo "snapshot_block_bytes=$SNAP bytes_per_sample=$(echo "scale=3; $SNAP/$SAMPLES" | bc)" | tee -a "$OUT/summary.txt"
du -sb "$DATA/wal" | tee -a "$OUT/summary.txt"
