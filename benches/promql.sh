#!/usr/bin/env bash
# PromQL latency, Lookout and Prometheus 2.42 side by side on the same data.
#
# Each server gets a fresh data directory and 10,000 node-exporter-like series x 24 h at 15 s from
# rwgen (../shared/bench/rwgen: counters with job/instance labels and http_request_duration_seconds
# _bucket histograms), one sender. Then ../shared/bench/promqlbench/promql-bench.sh times its query
# set (instant at the end of the data and 1 h ranges at step 15 s), and this script adds 24 h ranges
# at step 60 s (what Grafana picks for a day on a 1,440-pixel panel). Peak RSS during the queries is
# VmHWM after resetting it (`echo 5 > /proc/PID/clear_refs`) once the ingest is done and the
# server has finished cutting and compacting what it received (its CPU time stands still).
#
# Usage: benches/promql.sh OUTDIR [RUNS]
#   RWGEN=path/to/rwgen LOOKOUT=target/release/lookout benches/promql.sh /tmp/promql 10
set -euo pipefail
OUT=$1; RUNS=${2:-10}
RWGEN=${RWGEN:?set RWGEN to the rwgen binary}
LOOKOUT=${LOOKOUT:-target/release/lookout}
BENCH=$(dirname "$0")/../../shared/bench/promqlbench/promql-bench.sh
[[ -x $BENCH ]] || BENCH=../shared/bench/promqlbench/promql-bench.sh
mkdir -p "$OUT"

ready() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

# The 24 h ranges the shared script does not run: median of RUNS after one warm-up.
day_ranges() {
  local base=$1 end=$2
  for q in "sum by (job) (rate(node_cpu_seconds_total[5m]))" \
           "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))"; do
    local times=()
    for i in $(seq 0 "$RUNS"); do
      t=$(curl -s -o /dev/null -w '%{time_total}' -G --data-urlencode "query=$q" \
        --data-urlencode "start=$((end - 86400))" --data-urlencode "end=$end" --data-urlencode "step=60" \
        "$base/api/v1/query_range")
      [[ $i -gt 0 ]] && times+=("$t")
    done
    med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}')
    printf 'range24h %-9s %s\n' "$med" "$q"
  done
}

# Waits until the server's background work after the ingest (cuts, compactions) is done: its
# CPU time grows by less than 0.1 s over 5 s (at most 15 minutes).
settle() {
  local pid=$1 before after
  for _ in $(seq 180); do
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat"); sleep 5; after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    (( after - before < 10 )) && return 0
  done
}

run() { # name base_url pid end_ts
  local name=$1 base=$2 pid=$3 end=$4
  settle "$pid"
  echo 5 > "/proc/$pid/clear_refs"
  grep VmRSS "/proc/$pid/status" | sed 's/^/before queries: /'
  "$BENCH" "$base" "$end" "$RUNS"
  day_ranges "$base" "$end"
  grep -E 'VmHWM|VmRSS' "/proc/$pid/status" | sed 's/^/after queries: /'
}

# Lookout.
rm -rf "$OUT/lookout"; mkdir -p "$OUT/lookout"
printf 'metrics:\n  scrape_self: false\n  span_metrics: false\n' > "$OUT/lookout.yaml"
"$LOOKOUT" serve --config.file "$OUT/lookout.yaml" --data-dir "$OUT/lookout/data" \
  --http.listen-address 127.0.0.1:13010 --otlp.grpc.listen-address 127.0.0.1:0 \
  --otlp.http.listen-address 127.0.0.1:0 --log.level warn > "$OUT/lookout/server.log" 2>&1 &
LPID=$!
trap 'kill $LPID ${PPID_:-} 2>/dev/null || true' EXIT
ready http://127.0.0.1:13010/-/ready
"$RWGEN" --url http://127.0.0.1:13010/api/v1/write --series 10000 --samples 5760 --batch 2000 --concurrency 1 \
  | tee "$OUT/lookout/rwgen.txt"
END=$(( $(sed -n 's/.*last_ts<\([0-9]*\).*/\1/p' "$OUT/lookout/rwgen.txt") / 1000 ))
run lookout http://127.0.0.1:13010 "$LPID" "$END" | tee "$OUT/lookout/queries.txt"
kill $LPID; wait $LPID 2>/dev/null || true

# Prometheus 2.42 on the same data (rwgen writes the same series and values for the same
# arguments; its timestamps end at "now", so the evaluation time is taken from its output).
rm -rf "$OUT/prometheus"; mkdir -p "$OUT/prometheus"
printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' > "$OUT/prometheus/prometheus.yml"
prometheus --config.file="$OUT/prometheus/prometheus.yml" --storage.tsdb.path="$OUT/prometheus/data" \
  --web.listen-address=127.0.0.1:13011 --web.enable-remote-write-receiver > "$OUT/prometheus/server.log" 2>&1 &
PPID_=$!
ready http://127.0.0.1:13011/-/ready
"$RWGEN" --url http://127.0.0.1:13011/api/v1/write --series 10000 --samples 5760 --batch 2000 --concurrency 1 \
  | tee "$OUT/prometheus/rwgen.txt"
END=$(( $(sed -n 's/.*last_ts<\([0-9]*\).*/\1/p' "$OUT/prometheus/rwgen.txt") / 1000 ))
run prometheus http://127.0.0.1:13011 "$PPID_" "$END" | tee "$OUT/prometheus/queries.txt"
kill $PPID_; wait $PPID_ 2>/dev/null || true
