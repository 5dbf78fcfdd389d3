# Sourced by bench/quota-consume*.sh after lib.sh: 64 clients consuming one metric of one organization
# (POST /v1/usage/{metric}/consume, idempotency key per request, durable commit) against the baseline's fsync'd
# single-row `update … set used = used + 1 where used < limit returning used` on the same database engine, loaded one
# after the other in the same run. Then two more loads, each against its own baseline in the same run:
#   200 organizations x 1 metric (BENCH_TENANTS): every request goes to the next organization in turn, each with its
#     own key (bench/quota-tenants.lua); the baseline keeps one counter row per tenant (POST /consume/{tenant}).
#     Cross-tenant load: the rate and the p99 are to be read beside the one-organization run's (no tenant waits
#     behind another's requests);
#   batches of 100 (BENCH_BATCH_ITEMS) consumptions per POST /v1/usage/batch, each item with its own key
#     (bench/quota-batch.lua), against the baseline's 100 conditional updates in one fsync'd transaction per call
#     (POST /consume-batch): items/s.
# Then both are run into a limit to show zero over-admission: the final count equals the limit exactly and exactly
# (limit - used) requests were admitted.

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
  local one_p99=$p99_ms

  quota_tenants_run "$a" "$b" "$admin" "$metric" "$kind" "$one_p99"
  quota_batch_run "$a" "$b" "$key" "$metric" "$kind"

  # Into the limit: set it $headroom above what is used, then 64 clients for a few seconds more than that takes.
  # Requests wrk gave up on (its timeouts) may still be queued in either server: wait until both counters stand still,
  # or the limit would be set below what was already in flight.
  quota_settle "$a/v1/usage/$metric" "Authorization: Bearer $key"
  quota_settle "$b/counter" "X-Bench: settle"
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

# quota_settle <url> <header>: waits (at most 120 s) until the "used" that <url> reports is the same twice, 2 s apart.
quota_settle() {
  local url=$1 header=$2 before now i
  before=$(curl -sf -H "$header" "$url" | grep -o '"used":[0-9]*' | cut -d: -f2 || true)
  for i in $(seq 1 60); do
    sleep 2
    now=$(curl -sf -H "$header" "$url" | grep -o '"used":[0-9]*' | cut -d: -f2 || true)
    [ "$now" = "$before" ] && return 0
    before=$now
  done
  echo "bench: $url still moving after 120 s" >&2
}

# quota_tenants_run <api> <baseline> <admin key> <metric> <kind> <one-organization p99>: BENCH_TENANTS (200)
# organizations, one key each, consuming the one metric in turn; the baseline's one row per tenant.
quota_tenants_run() {
  local a=$1 b=$2 admin=$3 metric=$4 kind=$5 one_p99=$6
  local tenants=${BENCH_TENANTS:-200} i org tkey
  : > "$work/tenant-keys.txt"; : > "$work/tenant-ids.txt"
  for i in $(seq 1 "$tenants"); do
    org=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "{\"name\":\"bench $i\"}" "$a/v1/admin/organizations" \
      | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
    tkey=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$a/v1/admin/organizations/$org/api-keys" \
      | grep -o '"key":"[^"]*"' | cut -d'"' -f4 || true)
    [ -n "$tkey" ] || { echo "bench: could not create tenant $i of $tenants" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
    echo "$tkey" >> "$work/tenant-keys.txt"; echo "t$i" >> "$work/tenant-ids.txt"
  done
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tkey" -H 'Content-Type: application/json' \
    -d '{"amount":1,"idempotencyKey":"probe"}' "$a/v1/usage/$metric/consume")
  [ "$code" = 200 ] || { echo "bench: a tenant's consume answered $code" >&2; exit 1; }

  load "baseline update, $tenants tenants ($kind)" "$b/consume/t1" -s "$bench_root/bench/quota-tenants.lua" -- "$work/tenant-ids.txt" baseline
  local b_rps=$rps
  load "backstop consume, $tenants orgs ($kind)" "$a/v1/usage/$metric/consume" -s "$bench_root/bench/quota-tenants.lua" -- "$work/tenant-keys.txt" "/v1/usage/$metric/consume"
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx of the $tenants organizations' consumes with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  echo "ratio backstop/baseline, $tenants organizations x 1 metric: $(ratio "$rps" "$b_rps")x   (backstop p99 $p99_ms ms across $tenants organizations against $one_p99 ms for one)"
}

# quota_batch_run <api> <baseline> <tenant key> <metric> <kind>: POST /v1/usage/batch with BENCH_BATCH_ITEMS (100)
# items of one metric, a key each, on BENCH_BATCH_CONNECTIONS (16) connections (1,600 items in flight), wrk's timeout
# raised to 30 s (a batch is slower than one consume); items/s on both sides.
quota_batch_run() {
  local a=$1 b=$2 key=$3 metric=$4 kind=$5
  local items=${BENCH_BATCH_ITEMS:-100} conns=${BENCH_BATCH_CONNECTIONS:-16}
  local probe; probe=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"items\":[{\"metric\":\"$metric\",\"amount\":1,\"idempotencyKey\":\"batch-probe-1\"},{\"metric\":\"$metric\",\"amount\":1,\"idempotencyKey\":\"batch-probe-2\"}]}" \
    "$a/v1/usage/batch") || { echo "bench: POST /v1/usage/batch failed" >&2; exit 1; }
  grep -q '"admitted":2' <<< "$probe" || { echo "bench: the batch probe was not admitted: $probe" >&2; exit 1; }

  BENCH_CONNECTIONS=$conns load "baseline batch of $items ($kind)" "$b/consume-batch" --timeout 30s -s "$bench_root/bench/quota-batch.lua" -- none /consume-batch "$metric" "$items"
  local b_items; b_items=$(awk -v r="$rps" -v n="$items" 'BEGIN { printf "%.0f", r * n }')
  BENCH_CONNECTIONS=$conns load "backstop batch of $items ($kind)" "$a/v1/usage/batch" --timeout 30s -s "$bench_root/bench/quota-batch.lua" -- "$key" /v1/usage/batch "$metric" "$items"
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx batches with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  local s_items; s_items=$(awk -v r="$rps" -v n="$items" 'BEGIN { printf "%.0f", r * n }')
  echo "batches of $items on $conns connections: backstop $s_items items/s, baseline $b_items items/s: ratio $(ratio "$s_items" "$b_items")x"
}
