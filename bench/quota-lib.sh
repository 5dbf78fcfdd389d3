# Sourced by bench/quota-consume*.sh after lib.sh: 64 clients consuming one metric of one organization
# (POST /v1/usage/{metric}/consume, idempotency key per request, durable commit) against the baseline's fsync'd
# single-row `update … set used = used + 1 where used < limit returning used` on the same database engine, loaded one
# after the other in the same run. Then both are run into a limit to show zero over-admission: the final count
# equals the limit exactly and exactly (limit - used) requests were admitted.

# exhaust <name> <url> <key> <path> <count-reading command> : runs 64 clients for a few seconds past the limit.
quota_exhaust() {
  local name=$1 url=$2 key=$3 path=$4
  local out="$work/exhaust-$(tr -c 'A-Za-z0-9' '_' <<< "$name").txt"
  wrk -t"${BENCH_THREADS:-1}" -c"${BENCH_CONNECTIONS}" -d"$exhaust_seconds"s -s "$bench_root/bench/quota-consume.lua" "$url" -- "$key" "$path" > "$out"
  local requests non2xx
  requests=$(awk '/requests in/ {print $1}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out"); non2xx=${non2xx:-0}
  admitted=$((requests - non2xx))
}

consume_bench() {
  local kind=$1
  export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-64}
  exhaust_seconds=$([ "$quick" = 1 ] && echo 2 || echo 5)
  local headroom=$([ "$quick" = 1 ] && echo 300 || echo 2000)
  ensure_wrk
  publish
  local admin="bench-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  local api base; api=$(free_port); base=$(free_port)
  local db_env=() base_args=()
  if [ "$kind" = postgres ]; then
    start_postgres
    db_env=(Database__Provider=postgres "Database__ConnectionString=$(pg_conn_for backstop)")
    base_args=(--postgres "$(pg_conn_for baseline)")
  else
    base_args=(--sqlite "$work/baseline.db")
  fi
  start_backstop "$api" Admin__ApiKey="$admin" "${db_env[@]}"
  start_baseline "$base" "${base_args[@]}"
  local a="http://127.0.0.1:$api" b="http://127.0.0.1:$base"

  local org key metric=bench_calls
  org=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$a/v1/admin/organizations" \
    | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
  key=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$a/v1/admin/organizations/$org/api-keys" \
    | grep -o '"key":"[^"]*"' | cut -d'"' -f4)
  [ -n "$key" ] || { echo "bench: could not create a tenant key" >&2; exit 1; }
  curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"kind":"counter","description":"bench","defaultLimit":-1,"creation":false}' "$a/v1/admin/metrics/$metric" \
    || { echo "bench: could not declare the metric" >&2; exit 1; }
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"amount":1,"idempotencyKey":"probe"}' "$a/v1/usage/$metric/consume")
  [ "$code" = 200 ] || { echo "bench: consume answered $code" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }

  machine_note
  load "baseline update ($kind, fsync)" "$b/consume" -s "$bench_root/bench/quota-consume.lua" -- none /consume
  local b_rps=$rps
  load "backstop consume ($kind)" "$a/v1/usage/$metric/consume" -s "$bench_root/bench/quota-consume.lua" -- "$key" "/v1/usage/$metric/consume"
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx consumes with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  echo "ratio backstop/baseline: $(ratio "$rps" "$b_rps")x   (backstop RSS after: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$backstop_pid/status))"

  # Into the limit: set it $headroom above what is used, then 64 clients for a few seconds more than that takes.
  local used limit final
  used=$(curl -sf -H "Authorization: Bearer $key" "$a/v1/usage/$metric" | grep -o '"used":[0-9]*' | cut -d: -f2)
  limit=$((used + headroom))
  curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d "{\"limit\":$limit,\"reason\":\"bench\"}" "$a/v1/admin/organizations/$org/usage/$metric/limit"
  # Runs until the limit is reached (a slow machine may need more than one), at most five.
  local total=0 i
  for i in 1 2 3 4 5; do
    quota_exhaust "backstop" "$a/v1/usage/$metric/consume" "$key" "/v1/usage/$metric/consume"
    total=$((total + admitted))
    final=$(curl -sf -H "Authorization: Bearer $key" "$a/v1/usage/$metric" | grep -o '"used":[0-9]*' | cut -d: -f2)
    [ "$final" -ge "$limit" ] && break
  done
  local verdict=ok
  if [ "$final" -gt "$limit" ] || [ "$total" -gt "$headroom" ]; then verdict=FAIL
  elif [ "$final" -lt "$limit" ]; then verdict="limit not reached in time"; fi
  echo "backstop into the limit: limit $limit, final count $final, admitted $total of $headroom left: over-admission $((final > limit ? final - limit : 0)) ($verdict)"
  used=$(curl -sf "$b/counter" | grep -o '"used":[0-9]*' | cut -d: -f2)
  limit=$((used + headroom)); total=0
  curl -sf -o /dev/null -X PUT "$b/counter?limit=$limit"
  for i in 1 2 3 4 5; do
    quota_exhaust "baseline" "$b/consume" none /consume
    total=$((total + admitted))
    final=$(curl -sf "$b/counter" | grep -o '"used":[0-9]*' | cut -d: -f2)
    [ "$final" -ge "$limit" ] && break
  done
  echo "baseline into the limit: limit $limit, final count $final, admitted $total of $headroom left"
  [ "$verdict" != FAIL ] || { echo "bench: Backstop admitted past its limit" >&2; exit 1; }
}
