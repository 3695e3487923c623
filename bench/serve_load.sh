#!/usr/bin/env bash
# Bounded loopback load test of `flotilla serve`: CLIENTS concurrent clients send REQUESTS requests
# each to /v1/chat/completions (every 4th body malformed), then print throughput, p50/p99 latency and
# the count of each HTTP status. Fails if any answer is a 5xx or missing. Also prints the CLI's
# generation speed on the same model for comparison.
# Usage: bench/serve_load.sh [BUILD_DIR] [MODEL.gguf]
#   env: CLIENTS=32 REQUESTS=20 MAX_TOKENS=32 THREADS=1 PARALLEL=4 (1: one request at a time; N: continuous
#   batching of up to N requests per forward pass)
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
model=${2:-$root/../shared/models/stories260K/stories260K-f32.gguf}
bin="$build/bin/flotilla"
clients=${CLIENTS:-32}
requests=${REQUESTS:-20}
max_tokens=${MAX_TOKENS:-32}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" serve -m "$model" -a m -t "${THREADS:-1}" --port 0 --queue 64 --parallel "${PARALLEL:-4}" --db "$work/log.sqlite" 2>"$work/serve.err" &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.err" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/serve.err"; exit 1; }
url="http://127.0.0.1:$port/v1/chat/completions"
good='{"model":"m","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":'$max_tokens'}'
bad=('{"model":"m","messages":' '{"model":"m","messages":[]}' '{"model":"m","messages":[{"role":"user"}],"max_tokens":-1}' 'not json at all')

client() {
  local c=$1
  for i in $(seq 1 "$requests"); do
    local body=$good
    if (( (c + i) % 4 == 0 )); then body=${bad[$(( (c + i) / 4 % 4 ))]}; fi
    curl -s -o /dev/null -m 120 -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
      --data-binary "$body" "$url" || echo "000 0"
  done
}
start=$(date +%s.%N)
for c in $(seq 1 "$clients"); do client "$c" >"$work/client.$c" & done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
end=$(date +%s.%N)
cat "$work"/client.* >"$work/all"
total=$(wc -l <"$work/all")
ok=$(awk '$1 == 200' "$work/all" | wc -l)
bad_count=$(awk '$1 ~ /^4/' "$work/all" | wc -l)
errors=$(awk '$1 !~ /^[24]/' "$work/all" | wc -l)
awk '$1 == 200 {print $2}' "$work/all" | sort -n >"$work/lat"
pct() { awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if(i<1)i=1; printf "%.1f", a[i]*1000}' "$work/lat"; }
elapsed=$(echo "$end - $start" | bc)
tokens=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^flotilla_completion_tokens_total/ {s+=$2} END {print s+0}')
echo "server: --parallel ${PARALLEL:-4}, -t ${THREADS:-1}"
echo "server: $clients clients x $requests requests ($total done) in ${elapsed}s: $ok ok, $bad_count 4xx, $errors other"
printf 'server: %.1f requests/s, %.1f generated tokens/s, latency of 200s p50 %s ms, p99 %s ms\n' \
  "$(echo "$total / $elapsed" | bc -l)" "$(echo "$tokens / $elapsed" | bc -l)" "$(pct 50)" "$(pct 99)"
echo "server: status counts: $(awk '{print $1}' "$work/all" | sort | uniq -c | tr '\n' ' ')"
kill $pid; wait $pid 2>/dev/null || true
for _ in 1 2 3; do
  "$bin" run -m "$model" -t "${THREADS:-1}" -p "Once upon a time" -n "$max_tokens" --ignore-eos 2>&1 >/dev/null |
    grep -o 'prompt.*' | sed 's/^/cli: /'
done
[ "$errors" -eq 0 ] && [ "$total" -eq $((clients * requests)) ]
