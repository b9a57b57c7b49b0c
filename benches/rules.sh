#!/usr/bin/env bash
# The rules benchmark: 1,000 alerting rules (benches/gen-rules.py, 10 groups of 100, every 15 s)
# over the 10,000 series of `rwgen --series 10000` (one hour at a 15 s step, ending now), in a
# fresh Lookout and then in a fresh Prometheus (Debian's 2.42) on the same data and the same rule
# file. For each: server CPU over MINUTES minutes of evaluation after a warm-up (no other load),
# and the mean of the groups' last evaluation durations sampled every 15 s.
#
# Usage: RWGEN=path/to/rwgen benches/rules.sh OUTDIR [MINUTES]
set -euo pipefail
OUT=$1; MINUTES=${2:-3}
RWGEN=${RWGEN:?set RWGEN to the rwgen binary}
LOOKOUT=${LOOKOUT:-target/release/lookout}
PORT=${PORT:-13000}
mkdir -p "$OUT"; rm -rf "${OUT:?}"/*
python3 "$(dirname "$0")/gen-rules.py" > "$OUT/rules.yml"
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# measure NAME PID METRIC: warm-up, then CPU and group durations over the window.
measure() {
  local name=$1 pid=$2 metric=$3
  "$RWGEN" --url "http://127.0.0.1:$PORT/api/v1/write" --series 10000 --samples 240 --batch 2000 \
    --concurrency 4 > "$OUT/$name-rwgen.txt"
  sleep 30
  local t0 w0 sum=0 n=0
  t0=$(ticks "$pid"); w0=$(date +%s.%N)
  for _ in $(seq $((MINUTES * 4))); do
    sleep 15
    local mean
    mean=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$metric" '$1 ~ "^"m"[{]" {s+=$2; c++} END {if (c) printf "%.6f", s/c}')
    [[ -n "$mean" ]] && { sum=$(echo "$sum + $mean" | bc -l); n=$((n + 1)); }
  done
  local t1 w1
  t1=$(ticks "$pid"); w1=$(date +%s.%N)
  local cpu wall
  cpu=$(echo "($t1 - $t0) / $HZ" | bc -l); wall=$(echo "$w1 - $w0" | bc -l)
  printf '%s cpu_s=%.2f wall_s=%.1f cpu_pct_of_one_core=%.1f mean_group_eval_ms=%.2f samples=%d\n' \
    "$name" "$cpu" "$wall" "$(echo "100 * $cpu / $wall" | bc -l)" "$(echo "1000 * $sum / $n" | bc -l)" "$n" \
    | tee -a "$OUT/summary.txt"
}

"$LOOKOUT" serve --data-dir "$OUT/lookout" --http.listen-address "127.0.0.1:$PORT" \
  --otlp.grpc.listen-address 127.0.0.1:0 --otlp.http.listen-address 127.0.0.1:0 \
  --rules.path "$OUT/rules.yml" --log.level warn > "$OUT/lookout.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done
measure lookout "$PID" lookout_rules_group_last_duration_seconds
curl -s "http://127.0.0.1:$PORT/api/v1/rules" > "$OUT/lookout-rules.json"
kill "$PID"; wait "$PID" 2>/dev/null || true

cat > "$OUT/prometheus.yml" <<YAML
global:
  evaluation_interval: 15s
rule_files: ['$OUT/rules.yml']
YAML
prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus" \
  --web.listen-address="127.0.0.1:$PORT" --web.enable-remote-write-receiver --log.level=warn \
  > "$OUT/prometheus.log" 2>&1 &
PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done
measure prometheus "$PID" prometheus_rule_group_last_duration_seconds
curl -s "http://127.0.0.1:$PORT/api/v1/rules" > "$OUT/prometheus-rules.json"
