#!/usr/bin/env bash
# GET /v1/me with a tenant key (SQLite) against bare Kestrel answering a small JSON, loaded one after the other in
# the same run, in alternating rounds. Prints req/s, p99 and the ratio.   bench/auth-get.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
parse_args "$@"
ensure_wrk
publish

admin="bench-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
api=$(free_port); base=$(free_port)
start_backstop "$api" Admin__ApiKey="$admin"
start_baseline "$base"

org=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"bench"}' "http://127.0.0.1:$api/v1/admin/organizations" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
key=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"bench"}' "http://127.0.0.1:$api/v1/admin/organizations/$org/api-keys" | grep -o '"key":"[^"]*"' | cut -d'"' -f4)
[ -n "$key" ] || { echo "bench: could not create a tenant key" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$api/v1/me")
[ "$code" = 200 ] || { echo "bench: GET /v1/me answered $code" >&2; exit 1; }

machine_note
# Alternating rounds (baseline, service, baseline, service, ...): this machine's speed drifts by tens of percent
# within a minute (shared cores), and a slow spell then hits both sides instead of one. The ratio is the median of
# the rounds' ratios. BENCH_ROUNDS: 3, or 1 with --quick.
rounds=${BENCH_ROUNDS:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
# Both warmed first, longer than a round's own warm-up: the published service's precompiled (ReadyToRun) code is
# recompiled for its load over its first ~5 s under load, which would otherwise land in the first round.
first_warmup=$([ "$quick" = 1 ] && echo 1 || echo 10)
wrk -t"${BENCH_THREADS:-1}" -c"${BENCH_CONNECTIONS:-16}" -d"${first_warmup}s" "http://127.0.0.1:$base/json" > /dev/null
wrk -t"${BENCH_THREADS:-1}" -c"${BENCH_CONNECTIONS:-16}" -d"${first_warmup}s" -H "Authorization: Bearer $key" "http://127.0.0.1:$api/v1/me" > /dev/null
echo "rounds: $rounds, each ${duration} s per side, after ${first_warmup} s of warm-up of each"
ratios=()
for round in $(seq 1 "$rounds"); do
  load_cpu "$baseline_pid" "baseline GET /json" "http://127.0.0.1:$base/json"
  b_rps=$rps; b_cpu=$cpu_us
  load_cpu "$backstop_pid" "backstop GET /v1/me (tenant key)" "http://127.0.0.1:$api/v1/me" -H "Authorization: Bearer $key"
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx requests with an error" >&2; exit 1; }
  ratios+=("$(ratio "$rps" "$b_rps")")
  echo "  round $round: ratio $(ratio "$rps" "$b_rps")x; CPU per request $(ratio "$cpu_us" "$b_cpu")x the baseline's"
  echo
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END {print (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')
echo "ratio backstop/baseline: ${median}x (median of ${rounds} rounds: ${ratios[*]})   (backstop RSS after: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$backstop_pid/status))"
# For reading the figure: the service's middleware alone (no key, no endpoint query), the ceiling of any endpoint.
load_cpu "$backstop_pid" "backstop GET /health/live (no key)" "http://127.0.0.1:$api/health/live"
echo "  (middleware-only ceiling: $(ratio "$rps" "$b_rps")x of the last baseline round; CPU per request $(ratio "$cpu_us" "$b_cpu")x)"
