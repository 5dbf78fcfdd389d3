#!/usr/bin/env bash
# Outbound events: fan-out throughput and commit-to-delivery latency, against a local receiver (the baseline's
# /hooks/{name}, which counts every delivery by its webhook-id).
#   1. Backlog: N events (organization.created) are committed with the dispatcher off, for 3 endpoints (two that
#      answer 200, one that answers 500 to the first delivery of every second event); the service is restarted with
#      the dispatcher on and the time until every endpoint has every event gives deliveries/s.
#   2. Steady: events committed at 500/s for a while to 2 healthy endpoints and one that never answers within the
#      delivery timeout: p50/p99 from commit (the event's timestamp) to arrival at the healthy ones.
# Each receiver counts duplicates (a second 2xx for one event id): at-least-once allows them, a healthy run has none.
#   bench/events-fanout.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
parse_args "$@"
publish
backlog=$([ "$quick" = 1 ] && echo 1000 || echo 10000)
rate=500
steady_events=$(( $([ "$quick" = 1 ] && echo 2 || echo "$duration") * rate ))
admin="bench-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
api=$(free_port); base=$(free_port)
a="http://127.0.0.1:$api"; b="http://127.0.0.1:$base"
events_env=(Admin__ApiKey="$admin" Events__AllowHttp=true Events__AllowPrivateTargets=true)

start_baseline "$base" --sqlite "$work/baseline.db"
start_backstop "$api" "${events_env[@]}" Outbox__DispatcherEnabled=false

endpoint() { # <receiver name> → the endpoint id
  curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"url\":\"$b/hooks/$1\",\"eventTypes\":[\"organization.created\"],\"description\":\"bench $1\"}" "$a/v1/admin/event-endpoints" \
    | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4
}
stat() { curl -sf "$b/hooks/$1/stats" | grep -o "\"$2\":[0-9.]*" | cut -d: -f2; }

# wait_all <count> <timeout seconds> <names...>: until every receiver has <count> unique events.
wait_all() {
  local count=$1 limit=$2; shift 2
  local start=$SECONDS name done
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    done=1
    for name in "$@"; do [ "$(stat "$name" unique)" -ge "$count" ] || done=0; done
    [ "$done" = 1 ] && return 0
    sleep 0.2
  done
  return 1
}

machine_note
ids=()
for name in ok1 ok2 flaky1; do
  id=$(endpoint "$name"); [ -n "$id" ] || { echo "bench: could not create the endpoint $name" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  ids+=("$id")
done
node "$bench_root/bench/events-generate.mjs" "$a" "$admin" "$backlog" 0 | sed 's/^/backlog committed: /'

# The same database, now with the dispatcher on: the backlog drains.
kill "$backstop_pid"; wait "$backstop_pid" 2>/dev/null || true
t0=$(date +%s.%N)
start_backstop "$api" "${events_env[@]}"
if ! wait_all "$backlog" 600 ok1 ok2 flaky1; then
  echo "bench: the backlog did not drain in 10 minutes: ok1 $(stat ok1 unique), ok2 $(stat ok2 unique), flaky1 $(stat flaky1 unique) of $backlog" >&2
  exit 1
fi
t1=$(date +%s.%N)
deliveries=$(( $(stat ok1 deliveries) + $(stat ok2 deliveries) + $(stat flaky1 deliveries) ))
awk -v n="$backlog" -v d="$deliveries" -v a="$t0" -v b="$t1" \
  'BEGIN { printf "backlog of %d events to 3 endpoints: %d deliveries in %.1f s from the start of the service: %.0f deliveries/s\n", n, d, b - a, d / (b - a) }'
echo "  duplicates: ok1 $(stat ok1 duplicates), ok2 $(stat ok2 duplicates), flaky1 $(stat flaky1 duplicates) (flaky1 answered 500 to the first delivery of about half)"
for id in "${ids[@]}"; do curl -sf -o /dev/null -X DELETE -H "Authorization: Bearer $admin" "$a/v1/admin/event-endpoints/$id"; done

for name in ok3 ok4 slow1; do
  [ -n "$(endpoint "$name")" ] || { echo "bench: could not create the endpoint $name" >&2; exit 1; }
done
node "$bench_root/bench/events-generate.mjs" "$a" "$admin" "$steady_events" "$rate" | sed 's/^/steady: /'
wait_all "$steady_events" 120 ok3 ok4 || { echo "bench: the steady events did not all arrive: ok3 $(stat ok3 unique), ok4 $(stat ok4 unique) of $steady_events" >&2; exit 1; }
for name in ok3 ok4; do
  echo "steady $rate events/s, $name: p50 $(stat "$name" p50Ms) ms, p99 $(stat "$name" p99Ms) ms commit→delivery, duplicates $(stat "$name" duplicates)   (beside an endpoint that never answers in time)"
done
echo "backstop RSS after: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$backstop_pid/status)"
