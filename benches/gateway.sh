#!/usr/bin/env bash
# The demo gateway beside NGINX 1.22 (Debian's nginx) as a reverse proxy to the same two static
# NGINX upstreams, with wrk on loopback in the same run: small responses, keep-alive, 64
# connections. The gateway runs round robin with access logs off (as the NGINX proxy): with
# telemetry off; with every request traced and its spans and metrics going to a Lookout on the same
# machine; and with 10% of traces sampled (OTEL_TRACES_SAMPLER=parentbased_traceidratio).
#
#   cargo build --release
#   benches/gateway.sh [OUT_DIR] [DURATION]
#
# HTTPBENCH points at ../shared/bench/httpbench (bench.sh, upstream.conf, proxy.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bench-gateway}
DUR=${2:-20s}
HB=${HTTPBENCH:-../shared/bench/httpbench}
LOOKOUT=${LOOKOUT:-target/release/lookout}
mkdir -p "$OUT"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

wait_port() {
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

cat >"$OUT/gateway.yaml" <<YAML
access_log: false
routes:
  - {name: bench, path_prefix: /, pool: backends}
pools:
  backends:
    algorithm: round_robin
    upstreams: [{url: "http://127.0.0.1:18081"}, {url: "http://127.0.0.1:18082"}]
YAML

echo "### NGINX as the proxy: $(nginx -v 2>&1)"
RUN_DIR=$OUT/nginx "$HB/bench.sh" nginx "$DUR" 64 2 | tee "$OUT/nginx.txt"

# gateway LABEL OTLP_ENDPOINT [SAMPLER_RATIO] — one wrk run through the gateway, with its CPU
# seconds (and the receiving Lookout's, when there is one).
gateway() {
  local sampler=()
  if [[ -n ${3:-} ]]; then
    sampler=(env OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG="$3")
  fi
  "${sampler[@]}" "$LOOKOUT" gateway --gateway.config "$OUT/gateway.yaml" --gateway.listen-address 127.0.0.1:18090 \
    --gateway.admin-address 127.0.0.1:18091 --otlp.endpoint "$2" >"$OUT/$1.log" 2>&1 &
  local pid=$! t0 s0=0
  wait_port 18090
  t0=$(ticks "$pid")
  [[ -n ${SPID:-} ]] && s0=$(ticks "$SPID")
  echo "### Lookout gateway, $1"
  RUN_DIR=$OUT/$1 "$HB/bench.sh" target http://127.0.0.1:18090/ "$DUR" 64 2 | tee "$OUT/$1.txt"
  echo "gateway_cpu_s=$(echo "scale=2; ($(ticks "$pid")-$t0)/$(getconf CLK_TCK)" | bc)" | tee -a "$OUT/$1.txt"
  if [[ -n ${SPID:-} ]]; then
    echo "lookout_cpu_s=$(echo "scale=2; ($(ticks "$SPID")-$s0)/$(getconf CLK_TCK)" | bc)" | tee -a "$OUT/$1.txt"
  fi
  kill "$pid"; wait "$pid" || true
}
gateway telemetry-off ""

DATA=$(mktemp -d)
"$LOOKOUT" --data-dir "$DATA" --http.listen-address 127.0.0.1:3990 \
  --otlp.grpc.listen-address 127.0.0.1:4990 --otlp.http.listen-address 127.0.0.1:4991 >"$OUT/lookout.log" 2>&1 &
SPID=$!
wait_port 4990
gateway telemetry-on http://127.0.0.1:4990
gateway telemetry-on-sampled-10pct http://127.0.0.1:4990 0.1
kill "$SPID"; wait "$SPID" || true
rm -rf "$DATA"
grep -H -E "Requests/sec|^ +99%|_cpu_s" "$OUT"/*.txt
