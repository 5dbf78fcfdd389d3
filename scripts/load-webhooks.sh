#!/usr/bin/env bash
# Load check of the webhook inbox on the published binary (SQLite by default): N distinct Deepgram callbacks, each
# delivered twice, C at a time, over loopback. Prints throughput and what the metrics counted, and fails unless every
# event was stored exactly once and every second delivery was seen as a duplicate.
#   scripts/load-webhooks.sh [N=2000] [C=32]        (BACKSTOP_BIN=path to reuse a published binary)
# PostgreSQL: export Database__Provider=postgres Database__ConnectionString=... before running.
set -euo pipefail
n=${1:-2000}; c=${2:-32}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
bin=${BACKSTOP_BIN:-}
if [ -z "$bin" ]; then
  dotnet publish "$root/App.csproj" -c Release -r linux-x64 -o "$work/publish" > "$work/publish.log" 2>&1
  bin="$work/publish/backstop"
fi
port=$((20000 + RANDOM % 20000))
token="load-token-$(date +%s%N)-$RANDOM"
(cd "$work" && exec env Deepgram__CallbackToken="$token" Jobs__RunServer=false Serilog__MinimumLevel__Default=Warning \
  "$bin" --urls "http://127.0.0.1:$port" > "$work/server.log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done

# One curl config with 2N requests: every event twice, the duplicates interleaved with later events.
cfg="$work/requests.cfg"
: > "$cfg"
for round in 1 2; do
  for i in $(seq 1 "$n"); do
    printf 'url = "http://127.0.0.1:%s/webhooks/deepgram?token=%s"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"metadata\\":{\\"request_id\\":\\"req-%s\\"},\\"results\\":{}}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
      "$port" "$token" "$i" >> "$cfg"
  done
done
sed -i '$ d' "$cfg" # "next" separates transfers; none after the last one

start=$(date +%s%N)
codes=$(curl -s --no-progress-meter --parallel --parallel-max "$c" --config "$cfg")
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
ok=$(grep -c "^200$" <<< "$codes" || true)
[ "$ok" = 0 ] && { echo "no 200 answers; first answers:"; head -3 <<< "$codes"; tail -5 "$work/server.log"; }
total=$((2 * n))
metrics=$(curl -s "http://127.0.0.1:$port/metrics")
received=$(grep -E '^backstop_webhooks_received_total\{provider="deepgram"\}' <<< "$metrics" | awk '{print $2}' || true)
duplicate=$(grep -E '^backstop_webhooks_duplicate_total\{provider="deepgram"\}' <<< "$metrics" | awk '{print $2}' || true)
rss=$(grep VmRSS "/proc/$pid/status" | awk '{print $2 " " $3}')

echo "deliveries: $total ($n events x 2) at concurrency $c in ${ms} ms = $(( total * 1000 / (ms > 0 ? ms : 1) )) deliveries/s"
echo "answered 200: $ok; stored (received): ${received:-0}; duplicates: ${duplicate:-0}; server RSS after: $rss"
[ "$ok" = "$total" ] && [ "${received%.*}" = "$n" ] && [ "${duplicate%.*}" = "$n" ]
