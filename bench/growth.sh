#!/usr/bin/env bash
# Throughput as data grows (#29), on SQLite: the ingest, key-auth and consume benches and the admin lists timed on
# an empty database, then the service stopped, a month of production data preloaded directly in SQL (5 M
# webhook_events, 1 M meetings, 100 k organizations with a key and usage rows each, 5 M outbox rows in terminal
# states, 1 M audit rows; bench/growth-sqlite.sql.sh), the service started again on it and everything rerun.
# Each rate is printed against its empty-database figure (goal: ≥ 0.8×), raw and with the baseline's drift between
# the two phases taken out (the baseline, bare Kestrel with the same fsync'd work, runs beside the service in both
# phases on its own database, which does not grow); each list page's p99 against the goal of ≤ 50 ms.
#   bench/growth.sh [seconds=20] [--quick]       --quick: 1/100 of the sizes, 3 s loads, fewer list samples
# Settings: BENCH_GROWTH_SCALE (1, or 0.01 with --quick) multiplies every size; BENCH_LIST_SAMPLES (30, 5 with --quick).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/growth-sqlite.sql.sh"
parse_args "$@"
ensure_wrk
publish
command -v sqlite3 >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3) > "$work/apt-sqlite.log" 2>&1 \
  || { echo "bench: could not install sqlite3" >&2; exit 1; }

scale=${BENCH_GROWTH_SCALE:-$([ "$quick" = 1 ] && echo 0.01 || echo 1)}
size() { awk -v n="$1" -v s="$scale" 'BEGIN { v = int(n * s); print (v < 100 ? 100 : v) }'; }
n_webhooks=$(size 5000000); n_meetings=$(size 1000000); n_orgs=$(size 100000); n_outbox=$(size 5000000); n_audit=$(size 1000000)
samples=${BENCH_LIST_SAMPLES:-$([ "$quick" = 1 ] && echo 5 || echo 30)}

admin="bench-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
stripe_secret="whsec_bench$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
base=$(free_port)
start_baseline "$base" --sqlite "$work/baseline.db"
b="http://127.0.0.1:$base"
service_env=(Admin__ApiKey="$admin" Stripe__WebhookSecret="$stripe_secret" Webhooks__SignatureToleranceSeconds=3600)
api=$(free_port)
start_backstop "$api" "${service_env[@]}"
a="http://127.0.0.1:$api"
db_file="$work/backstop/data/backstop.db"
[ -f "$db_file" ] || { echo "bench: no database at $db_file" >&2; exit 1; }

# The large organization (the bench's tenant): its key, a metric it consumes; the preload gives it 30% of the meetings.
big_org=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"growth bench"}' "$a/v1/admin/organizations" \
  | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
key=$(curl -sf -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$a/v1/admin/organizations/$big_org/api-keys" \
  | grep -o '"key":"[^"]*"' | cut -d'"' -f4)
[ -n "$key" ] || { echo "bench: could not create a tenant key" >&2; exit 1; }
metric=bench_calls
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"kind":"counter","description":"bench","defaultLimit":-1,"creation":false}' "$a/v1/admin/metrics/$metric" \
  || { echo "bench: could not declare the metric" >&2; exit 1; }

# The lists an operator and a tenant page through: path, and which key reads it.
lists=(
  "admin /v1/admin/webhooks" "admin /v1/admin/webhooks?provider=stripe" "admin /v1/admin/webhooks?status=processed"
  "admin /v1/admin/webhooks?status=failed" "admin /v1/admin/webhooks?status=dead" "admin /v1/admin/webhooks?provider=stripe&status=failed"
  "admin /v1/admin/webhooks?type=invoice.paid" "admin /v1/admin/webhooks?provider=stripe&type=invoice.paid"
  "admin /v1/admin/outbox" "admin /v1/admin/outbox?status=dead" "admin /v1/admin/outbox?channel=email"
  "admin /v1/admin/outbox?status=dead&channel=email"
  "admin /v1/admin/audit" "admin /v1/admin/audit?organizationId=$big_org" "admin /v1/admin/audit?actor=admin"
  "admin /v1/admin/audit?action=organization.create"
  "admin /v1/admin/organizations"
  "tenant /v1/meetings" "tenant /v1/meetings?status=done"
)

# time_page <auth> <url>: $samples timed GETs of one page; sets t_p50 and t_p99 (ms; the p99 of 30 samples is the
# slowest but one, of 5 the slowest).
time_page() {
  local auth=$1 url=$2 i out
  out="$work/times.txt"; : > "$out"
  for i in $(seq 1 "$samples"); do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $auth" "$url" >> "$out"
  done
  grep -qv '^200 ' "$out" && { echo "bench: $url answered $(grep -v '^200 ' "$out" | head -1 | cut -d' ' -f1)" >&2; exit 1; }
  read -r t_p50 t_p99 < <(awk '{print $2 * 1000}' "$out" | sort -n | awk '{v[NR]=$1} END {
    i99 = int(NR * 0.99 + 0.999); if (i99 > NR) i99 = NR; printf "%.1f %.1f\n", v[int((NR + 1) / 2)], v[i99] }')
}

# time_lists <phase>: page 1 and page 50 (followed by its cursors) of every list; one line each, also kept for the summary.
time_lists() {
  local phase=$1 entry who path auth url cursor page next
  for entry in "${lists[@]}"; do
    who=${entry%% *}; path=${entry#* }
    auth=$([ "$who" = admin ] && echo "$admin" || echo "$key")
    url="$a$path"
    time_page "$auth" "$url"
    local p1="$t_p50 $t_p99"
    # Walk to page 50 (or the last page there is).
    cursor=""; page=1
    while [ "$page" -lt 50 ]; do
      next=$(curl -sf -H "Authorization: Bearer $auth" "$url${cursor:+$([[ $path == *\?* ]] && echo '&' || echo '?')cursor=$cursor}" \
        | grep -o '"nextCursor":"[^"]*"' | cut -d'"' -f4 || true)
      [ -n "$next" ] || break
      cursor=$next; page=$((page + 1))
    done
    time_page "$auth" "$url${cursor:+$([[ $path == *\?* ]] && echo '&' || echo '?')cursor=$cursor}"
    printf '  %-62s page 1: p50 %7s p99 %7s ms   page %2s: p50 %7s p99 %7s ms\n' "$path" ${p1% *} ${p1#* } "$page" "$t_p50" "$t_p99"
    echo "$phase|$path|${p1#* }|$page|$t_p99" >> "$work/lists.txt"
  done
}

# rates <phase>: ingest (16 connections), key-auth GET /v1/me (16), consume (64), each beside its baseline.
rates() {
  local phase=$1
  rm -f "$work/events.txt"   # fresh event ids: the second phase's events must not be duplicates of the first's
  load_events "baseline insert (sqlite)" "$b/events"; local bi=$rps
  load_events "backstop POST /webhooks/stripe" "$a/webhooks/stripe"; local si=$rps
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx deliveries with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  load "baseline GET /json" "$b/json"; local ba=$rps
  load "backstop GET /v1/me (tenant key)" "$a/v1/me" -H "Authorization: Bearer $key"; local sa=$rps
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx GET /v1/me with an error" >&2; exit 1; }
  BENCH_CONNECTIONS=64 load "baseline update (sqlite, fsync)" "$b/consume" -s "$bench_root/bench/quota-consume.lua" -- none /consume; local bc=$rps
  BENCH_CONNECTIONS=64 load "backstop consume (sqlite)" "$a/v1/usage/$metric/consume" -s "$bench_root/bench/quota-consume.lua" -- "$key" "/v1/usage/$metric/consume"
  local sc=$rps
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx consumes with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  echo "$phase ingest $si $bi" >> "$work/rates.txt"
  echo "$phase auth $sa $ba" >> "$work/rates.txt"
  echo "$phase consume $sc $bc" >> "$work/rates.txt"
}

: > "$work/rates.txt"; : > "$work/lists.txt"
machine_note
echo "sizes: $n_webhooks webhook_events, $n_meetings meetings ($((n_meetings * 3 / 10)) in the large organization), $n_orgs organizations, $n_outbox outbox rows, $n_audit audit rows; $samples samples per list page"
echo "== empty database"
rates empty
time_lists empty

echo "== preloading (service stopped)"
kill "$backstop_pid"; wait "$backstop_pid" 2>/dev/null || true
now_ms=$(($(date +%s) * 1000 - 3600 * 1000))
t0=$(date +%s)
growth_sqlite_sql | sqlite3 "$db_file" > "$work/preload.log" 2>&1 || { cat "$work/preload.log" >&2; exit 1; }
t1=$(date +%s)
echo "preloaded in $((t1 - t0)) s; database $(du -h "$db_file" | cut -f1); disk left: $(df -h "$db_file" | awk 'NR == 2 {print $4}')"
api=$(free_port)
t0=$(date +%s%N)
start_backstop "$api" "${service_env[@]}"
echo "service ready on the grown database in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
a="http://127.0.0.1:$api"
echo "== grown database"
rates grown
time_lists grown

echo "== summary (machine: $(nproc) cores, load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
fails=0
while read -r what; do
  read -r _ _ se be < <(grep "^empty $what " "$work/rates.txt")
  read -r _ _ sg bg < <(grep "^grown $what " "$work/rates.txt")
  raw=$(ratio "$sg" "$se")
  # The baseline's own drift between the phases (the machine's speed, not the data) taken out.
  adj=$(awk -v sg="$sg" -v se="$se" -v bg="$bg" -v be="$be" 'BEGIN { printf "%.2f", (se > 0 && bg > 0 ? (sg / se) / (bg / be) : 0) }')
  verdict=$(awk -v r="$adj" 'BEGIN { print (r >= 0.8 ? "ok" : "BELOW 0.8") }')
  [ "$verdict" = ok ] || fails=$((fails + 1))
  printf '  %-8s empty %8.0f/s  grown %8.0f/s  %sx   (baseline %8.0f/s then %8.0f/s; against the baseline: %sx) %s\n' \
    "$what" "$se" "$sg" "$raw" "$be" "$bg" "$adj" "$verdict"
done <<< "ingest
auth
consume"
over=0
while IFS='|' read -r phase path p1 page p50; do
  for v in "$p1" "$p50"; do if awk -v v="$v" 'BEGIN { exit !(v > 50) }'; then over=$((over + 1)); fi; done
done < <(grep '^grown|' "$work/lists.txt")
echo "  list pages on the grown database over 50 ms (p99): $over of $((2 * ${#lists[@]}))"
grep '^grown|' "$work/lists.txt" | while IFS='|' read -r phase path p1 page p50; do
  if awk -v v="$p1" -v w="$p50" 'BEGIN { exit !(v > 50 || w > 50) }'; then echo "    over: $path (page 1 p99 $p1 ms, page $page p99 $p50 ms)"; fi
done
echo "  (figures measured on a shared machine: read them beside the load average)"
