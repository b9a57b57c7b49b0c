#!/usr/bin/env bash
# The log benchmark (issue 6): OTLP/gRPC ingest of LINES lines of 100–300 bytes from 50 streams
# spread over the last 6 h, the stored size against the raw text, two LogQL queries, and the
# ceilings (the log store and a bare tantivy index fed the same requests in-process).
#
#   cargo build --release && LINES=10000000 benches/logs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-10000000}
BATCH=${BATCH:-1000}
BATCHES=$((LINES / BATCH))
BIN=${BIN:-./target/release/lookout}
WORK=$(mktemp -d /tmp/lookout-logs-bench.XXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "== ingest: $LINES lines over OTLP/gRPC, $BATCH per request, 4 connections"
$BIN serve --data-dir "$WORK/data" --http.listen-address 127.0.0.1:13100 \
  --otlp.grpc.listen-address 127.0.0.1:14317 --otlp.http.listen-address 127.0.0.1:14318 \
  --log.level warn &
PID=$!
until curl -sf http://127.0.0.1:13100/-/ready >/dev/null; do sleep 0.2; done
$BIN loadgen --endpoint http://127.0.0.1:14317 --signal lines --batch-size "$BATCH" \
  --fresh-batches "$BATCHES" --pregenerate --concurrency 4 --server-pid $PID | tee "$WORK/ingest.txt"
# Searchable within the commit interval; wait until every line counts.
until [ "$(curl -s http://127.0.0.1:13100/metrics | awk '/^lookout_logs_entries / {print $2}')" = "$LINES" ]; do sleep 1; done
RAW=$(awk -F= '/raw_line_bytes/ {print $2}' "$WORK/ingest.txt")
STORED=$(du -sb "$WORK/data/logs" | cut -f1)
echo "stored_bytes=$STORED raw_line_bytes=$RAW stored_over_raw=$(awk -v s="$STORED" -v r="$RAW" 'BEGIN {printf "%.3f", s / r}')"

echo "== queries (hyperfine, warm)"
NOW=$(date +%s)
q() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
LOGQ="http://127.0.0.1:13100/loki/api/v1/query_range?query=$(q '{service_name="orders"} |= "error"')&start=$((NOW - 3600))&end=$NOW&limit=100&direction=backward"
METQ="http://127.0.0.1:13100/loki/api/v1/query_range?query=$(q 'sum by (level) (count_over_time({service_name=~".+"}[1m]))')&start=$((NOW - 6 * 3600))&end=$NOW&step=60"
METQ2="http://127.0.0.1:13100/loki/api/v1/query_range?query=$(q 'sum by (detected_level) (count_over_time({service_name=~".+"}[1m]))')&start=$((NOW - 6 * 3600))&end=$NOW&step=60"
curl -s "$LOGQ" | python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print("log query lines:", sum(len(s["values"]) for s in d["result"]))'
curl -s "$METQ2" | python3 -c 'import json, sys; d = json.load(sys.stdin)["data"]; print("metric query series:", len(d["result"]), "lines counted:", d["stats"]["summary"]["totalLinesProcessed"])'
hyperfine --warmup 2 --runs 10 -N --export-markdown "$WORK/queries.md" \
  -n 'last hour |= "error", first 100' "curl -sf -o /dev/null $LOGQ" \
  -n 'sum by (level) count_over_time [1m] over 6h' "curl -sf -o /dev/null $METQ" \
  -n 'sum by (detected_level) count_over_time [1m] over 6h' "curl -sf -o /dev/null $METQ2"
cat "$WORK/queries.md"
kill $PID; wait $PID 2>/dev/null || true

echo "== ceilings: the same requests indexed in-process"
$BIN loadgen --signal lines --batch-size "$BATCH" --fresh-batches "$BATCHES" --index-into "$WORK/store"
$BIN loadgen --signal lines --batch-size "$BATCH" --fresh-batches "$BATCHES" --index-into "$WORK/tantivy" --raw-tantivy
