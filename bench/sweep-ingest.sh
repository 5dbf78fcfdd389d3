#!/usr/bin/env bash
# Sweeps never stall ingest (#29), on SQLite: ~1 M expired rows preloaded directly in SQL (processed, ignored and dead
# webhook events and sent/dead outbox messages, all older than their retention; bench/growth-sqlite.sql.sh), then
# signed Stripe events into POST /webhooks/stripe twice: quiet, and while the webhook-retention and outbox-sweep jobs
# delete those rows (run through POST /v1/admin/jobs/{id}/run, as the scheduler runs them). Prints both p99s and their
# ratio (goal ≤ 2×), the rows each sweep deleted and how long it took, and the largest size the WAL file reached
# (sampled every 0.2 s). Ingest's baseline (bare Kestrel, one fsync'd insert per event) runs in the same run for scale.
#   bench/sweep-ingest.sh [seconds=20] [--quick]    --quick: 1/100 of the rows
# BENCH_SWEEP_ROWS (1000000, 10000 with --quick): expired webhook events; as many outbox rows again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/growth-sqlite.sql.sh"
parse_args "$@"
ensure_wrk
publish
command -v sqlite3 >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3) > "$work/apt-sqlite.log" 2>&1 \
  || { echo "bench: could not install sqlite3" >&2; exit 1; }

rows=${BENCH_SWEEP_ROWS:-$([ "$quick" = 1 ] && echo 10000 || echo 1000000)}
admin="bench-admin-key-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
stripe_secret="whsec_bench$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
base=$(free_port)
start_baseline "$base" --sqlite "$work/baseline.db"
service_env=(Admin__ApiKey="$admin" Stripe__WebhookSecret="$stripe_secret" Webhooks__SignatureToleranceSeconds=3600)
api=$(free_port)
start_backstop "$api" "${service_env[@]}"
db_file="$work/backstop/data/backstop.db"
kill "$backstop_pid"; wait "$backstop_pid" 2>/dev/null || true

# Everything 40 to 70 days old: past the 7 days of processed events and sent messages and the 30 days of dead events.
n_webhooks=$rows; n_outbox=$rows; n_meetings=100; n_orgs=100; n_audit=100; big_org=none
now_ms=$(( ($(date +%s) - 40 * 86400) * 1000 ))
t0=$(date +%s)
growth_sqlite_sql | sqlite3 "$db_file" > "$work/preload.log" 2>&1 || { cat "$work/preload.log" >&2; exit 1; }
echo "preloaded $rows webhook events and $rows outbox messages, 40-70 days old, in $(( $(date +%s) - t0 )) s"
api=$(free_port)
start_backstop "$api" "${service_env[@]}"
a="http://127.0.0.1:$api"
count() { sqlite3 "$db_file" "select (select count(*) from webhook_events), (select count(*) from outbox_messages)"; }
before=$(count)

machine_note
load_events "baseline insert (sqlite)" "http://127.0.0.1:$base/events"
echo "  (baseline for scale: ${rps} req/s)"
rm -f "$work/events.txt"
load_events "backstop ingest, quiet" "$a/webhooks/stripe"
quiet_p99=$p99_ms; quiet_rps=$rps

# The WAL's size, every 0.2 s, until told to stop.
( while [ ! -f "$work/stop-wal" ]; do stat -c %s "$db_file-wal" 2>/dev/null || echo 0; sleep 0.2; done ) > "$work/wal.txt" &
pids+=($!); wal_pid=$!
# The sweeps, one after the other, started a second into the measured run (wrk creates its output file as it starts).
during="backstop ingest, during the sweeps"
(
  until [ -f "$work/wrk-$(tr -c 'A-Za-z0-9' '_' <<< "$during").txt" ]; do sleep 0.1; done
  sleep 1
  for job in webhook-retention outbox-sweep; do
    s=$(date +%s%N)
    out=$(curl -s -X POST -H "Authorization: Bearer $admin" "$a/v1/admin/jobs/$job/run")
    echo "$job $(( ($(date +%s%N) - s) / 1000000 )) $(cut -c1-300 <<< "$out")"
  done > "$work/sweeps.txt"
) &
sweeper=$!
rm -f "$work/events.txt"
load_events "$during" "$a/webhooks/stripe"
sweep_p99=$p99_ms; sweep_rps=$rps
wait "$sweeper" || true
touch "$work/stop-wal"; wait "$wal_pid" 2>/dev/null || true
after=$(count)
echo "sweeps (job, ms, answer):"; sed 's/^/  /' "$work/sweeps.txt"
echo "rows (webhook_events|outbox_messages): before $before, after $after"
awk -v d="$duration" '{ if ($1 + 0 > m) m = $1 + 0 } END { printf "largest WAL seen: %.1f MB\n", m / 1048576 }' "$work/wal.txt"
sweep_ms=$(awk '{ s += $2 } END { print s }' "$work/sweeps.txt")
[ "$sweep_ms" -le $(( (warmup + duration) * 1000 )) ] || echo "note: the sweeps ran ${sweep_ms} ms, longer than the measured run: part of them was not under load"
echo "ingest p99 quiet $quiet_p99 ms ($quiet_rps req/s), during the sweeps $sweep_p99 ms ($sweep_rps req/s): $(ratio "$sweep_p99" "$quiet_p99")x (goal ≤ 2x; figures of a shared machine, read beside the load average)"
