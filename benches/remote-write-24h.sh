#!/usr/bin/env bash
# Remote-write ingest of 24 h of timestamps into a fresh Lookout, with RSS, head bytes and block
# samples sampled every EVERY seconds, default 10 (OUTDIR/rss.log: unix time, RSS kB, metrics), so that memory per
# series can be read during the ingest and not only after it. Lookout runs without its own
# scrape and span metrics, as the peers run with no scrape jobs.
#
# Usage: benches/remote-write-24h.sh OUTDIR [SERIES] [SAMPLES]
#   RWGEN=path/to/rwgen LOOKOUT=target/release/lookout benches/remote-write-24h.sh /tmp/rw24 100000 5760
set -euo pipefail
OUT=$1; SERIES=${2:-100000}; SAMPLES=${3:-5760}
RWGEN=${RWGEN:?set RWGEN to the rwgen binary}
LOOKOUT=${LOOKOUT:-target/release/lookout}
PORT=${PORT:-13007}
EVERY=${EVERY:-10}   # seconds between RSS samples
rm -rf "$OUT"; mkdir -p "$OUT"
printf 'metrics:\n  scrape_self: false\n  span_metrics: false\n' > "$OUT/noself.yaml"
"$LOOKOUT" serve --config.file "$OUT/noself.yaml" --data-dir "$OUT/data" --http.listen-address "127.0.0.1:$PORT" \
  --otlp.grpc.listen-address 127.0.0.1:0 --otlp.http.listen-address 127.0.0.1:0 --log.level "${LOG_LEVEL:-warn}" > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done
( while kill -0 $PID 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/{print $2}' /proc/$PID/status) $(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" \
      | awk '/^lookout_tsdb_(head_bytes|block_samples|head_series) /{printf "%s=%s ", $1, $2}')"
    sleep "$EVERY"; done ) > "$OUT/rss.log" 2>/dev/null &
MON=$!
ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK); T0=$(ticks)
"$RWGEN" --url "http://127.0.0.1:$PORT/api/v1/write" --series "$SERIES" --samples "$SAMPLES" --batch 2000 --concurrency 1 \
  | tee "$OUT/rwgen.txt"
T1=$(ticks)
{ grep -E 'VmHWM|VmRSS' "/proc/$PID/status"; echo "server_cpu_s=$(echo "scale=2; ($T1-$T0)/$HZ" | bc)"; } | tee "$OUT/end.txt"
sleep 40
{ echo "40 s later:"; grep -E 'VmHWM|VmRSS' "/proc/$PID/status"
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^lookout_tsdb_(head_series|head_bytes|block_bytes|block_samples|blocks) '; } \
  | tee -a "$OUT/end.txt"
kill $MON 2>/dev/null || true
