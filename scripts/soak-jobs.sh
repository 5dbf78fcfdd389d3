#!/usr/bin/env bash
# Soak of the recurring jobs on the published binary with Hangfire's SQLite storage (Jobs:Storage=sqlite): every
# job scheduled every minute for N minutes under a modest, steady webhook load, then a graceful stop and a restart
# on the same files. Watches for crashes (Hangfire.Storage.SQLite issue #79 reports an AccessViolation in the
# distributed-lock heartbeat), counts job runs per job and outcome, errors in the log, and checks that Hangfire's
# history survived the restart and that jobs run again after it. Exits non-zero when any of that fell short.
#   scripts/soak-jobs.sh [MINUTES=30] [DELIVERIES_PER_SECOND=4]     (BACKSTOP_BIN=path to reuse a published binary)
# Needs curl, jq and sqlite3. Listens on a free loopback port; works in a temporary directory it removes at the end
# (SOAK_KEEP=1 keeps it and prints where).
set -euo pipefail
minutes=${1:-30}; rate=${2:-4}
for tool in curl jq sqlite3; do command -v "$tool" >/dev/null || { echo "soak-jobs: $tool is required" >&2; exit 2; }; done
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
bin=${BACKSTOP_BIN:-}
if [ -z "$bin" ]; then
  dotnet publish "$root/App.csproj" -c Release -r linux-x64 -o "$work/publish" > "$work/publish.log" 2>&1
  bin="$work/publish/backstop"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
admin="soak-admin-key-$(date +%s%N)-$RANDOM$RANDOM"
token="soak-token-$(date +%s%N)-$RANDOM"
export Admin__ApiKey="$admin" Deepgram__CallbackToken="$token" Jobs__Storage=sqlite \
  Serilog__MinimumLevel__Default=Warning Serilog__MinimumLevel__Override__Hangfire=Warning
pid=""; loadpid=""
cleanup() {
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null && wait "$loadpid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work/run"
starts=0
schedules=() # Jobs__Schedules__<id>: job ids have dashes, which bash cannot export but the service reads fine
start_server() {
  starts=$((starts + 1))
  (cd "$work/run" && exec env "${schedules[@]}" "$bin" --urls "$base" >> "$work/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 120); do
    curl -sf "$base/health/ready" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "soak-jobs: the service did not become ready (start $starts); log tail:" >&2
  tail -20 "$work/server.log" >&2
  exit 1
}
stop_server() { # graceful stop; leaves the exit code in $stopped
  kill -TERM "$pid" 2>/dev/null || true
  stopped=0; wait "$pid" || stopped=$?
  pid=""
}
admin_get() { curl -sf -H "Authorization: Bearer $admin" "$base$1"; }

# The job ids come from the service itself, so a job added later is soaked too.
Jobs__RunServer=false start_server
mapfile -t jobs < <(admin_get /v1/admin/jobs | jq -r '.jobs[].id')
stop_server; [ "$stopped" = 0 ] || { echo "soak-jobs: the first start did not stop cleanly" >&2; exit 1; }
for id in "${jobs[@]}"; do schedules+=("Jobs__Schedules__$id=* * * * *"); done
echo "soak: ${#jobs[@]} jobs every minute (${jobs[*]}), ${minutes} min, ~${rate} webhook deliveries/s, port $port, storage sqlite"

# Steady load: each second `rate` deliveries, one in four a duplicate of an earlier event.
load() {
  local i=0
  while true; do
    local cfg="$work/load.cfg"; : > "$cfg"
    for _ in $(seq 1 "$rate"); do
      i=$((i + 1)); local event=$i
      [ $((i % 4)) = 0 ] && event=$((i - 2))
      printf 'url = "%s/webhooks/deepgram?token=%s"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"metadata\\":{\\"request_id\\":\\"soak-%s\\"},\\"results\\":{}}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n' \
        "$base" "$token" "$event" >> "$cfg"
    done
    sed -i '$ d' "$cfg"
    curl -s --no-progress-meter --max-time 10 --parallel --config "$cfg" >> "$work/codes" 2>/dev/null || echo "000" >> "$work/codes"
    sleep 1
  done
}

start_server
began=$(date +%s)
load & loadpid=$!
crashes=0; crash_codes=""
deadline=$((began + minutes * 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
  sleep 5
  if ! kill -0 "$pid" 2>/dev/null; then
    rc=0; wait "$pid" || rc=$?
    crashes=$((crashes + 1)); crash_codes="$crash_codes $rc"
    echo "soak: CRASH at +$(( $(date +%s) - began ))s, exit code $rc; restarting" >&2
    start_server
  fi
done
rss=$(grep VmRSS "/proc/$pid/status" | awk '{print $2 " " $3}')
kill "$loadpid" 2>/dev/null; wait "$loadpid" 2>/dev/null || true; loadpid=""

hangfire_counts() {
  sqlite3 -readonly "$work/run/data/hangfire.db" \
    "select coalesce(group_concat(n, ' '), 'none') from (select statename || '=' || count(*) as n from job group by statename order by statename)"
}
hangfire_succeeded() { sqlite3 -readonly "$work/run/data/hangfire.db" "select count(*) from job where statename = 'Succeeded'"; }
before_restart=$(hangfire_counts); succeeded_before=$(hangfire_succeeded)
stop_server; stop_rc=$stopped

# The restart: same files; Hangfire's history must still be there, and the jobs must run again.
restart_at=$(date -u +%Y-%m-%dT%H:%M:%S)
start_server
after_restart=$(hangfire_counts); succeeded_after=$(hangfire_succeeded)
sleep $(( 75 - $(date +%S | sed 's/^0//') ))
runs_after=$(sqlite3 -readonly "$work/run/data/backstop.db" \
  "select count(*) from job_runs where started_at >= '$restart_at' and outcome = 'succeeded'")
stop_server; final_rc=$stopped

summary=$(sqlite3 -readonly "$work/run/data/backstop.db" \
  "select job_id || ' ' || outcome || '=' || count(*) from job_runs group by job_id, outcome order by job_id, outcome")
failed_runs=$(sqlite3 -readonly "$work/run/data/backstop.db" "select count(*) from job_runs where outcome = 'failed'")
deliveries=$(wc -l < "$work/codes")
ok=$(grep -c '^200$' "$work/codes" || true)
errors=$(grep -cE '"@l":"(Error|Fatal)"' "$work/server.log" || true)
violations=$(grep -ciE 'AccessViolation|SIGSEGV|segmentation fault|core dumped|Fatal error' "$work/server.log" || true)

echo "ran ${minutes} min; service starts: $starts; crashes: $crashes${crash_codes:+ (exit codes:$crash_codes)}; access violations in log: $violations"
echo "graceful stop before restart: exit $stop_rc; final stop: exit $final_rc; RSS at the end of the soak: $rss"
echo "webhook deliveries: $deliveries, answered 200: $ok"
echo "job runs (job outcome=count):"; sed 's/^/  /' <<< "$summary"
echo "hangfire jobs by state before restart: $before_restart; after restart: $after_restart"
echo "succeeded runs within ~1 min after restart: $runs_after"
echo "errors in the log: $errors"
[ "$errors" -gt 0 ] && grep -E '"@l":"(Error|Fatal)"' "$work/server.log" | jq -r '."@m" // .' 2>/dev/null | sort | uniq -c | sort -rn | head -10

expected=$(( minutes - 2 ))
short=""
for id in "${jobs[@]}"; do
  n=$(sqlite3 -readonly "$work/run/data/backstop.db" "select count(*) from job_runs where job_id = '$id' and outcome = 'succeeded'")
  [ "$n" -ge "$expected" ] || short="$short $id($n)"
done
[ -n "$short" ] && echo "jobs with fewer than $expected succeeded runs:$short"
[ "$crashes" = 0 ] && [ "$violations" = 0 ] && [ "$stop_rc" = 0 ] && [ "$final_rc" = 0 ] && [ "$failed_runs" = 0 ] \
  && [ "$ok" = "$deliveries" ] && [ "$runs_after" -gt 0 ] && [ -z "$short" ] && [ "$succeeded_before" -gt 0 ] \
  && [ "$succeeded_after" -ge "$succeeded_before" ] && echo "soak: PASS" || { echo "soak: FAIL"; exit 1; }
