# Shared by the bench scripts (sourced). Every server listens on a free loopback port and is stopped on exit.
# Settings: BACKSTOP_BIN (a published backstop to reuse), BENCH_CONNECTIONS (16), BENCH_THREADS (1).
set -euo pipefail
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

duration=20
quick=0
parse_args() {
  for a in "$@"; do
    case "$a" in
      --quick) quick=1; duration=3 ;;
      [0-9]*) duration=$a ;;
      *) echo "usage: $0 [seconds=20] [--quick]" >&2; exit 2 ;;
    esac
  done
  warmup=$([ "$quick" = 1 ] && echo 1 || echo 3)
}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${pg_data:-}" ] && stop_postgres
  [ -n "${pg_dir:-}" ] && rm -rf "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT

ensure_wrk() {
  command -v wrk >/dev/null 2>&1 && return 0
  echo "bench: installing wrk" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; echo "bench: could not install wrk" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

# Publishes Backstop (single-file, as operators run it) and the baseline; BACKSTOP_BIN skips the first.
publish() {
  local out="$bench_root/bench/out"
  if [ -z "${BACKSTOP_BIN:-}" ]; then
    echo "bench: publishing backstop" >&2
    dotnet publish "$bench_root/App.csproj" -c Release -r linux-x64 -o "$out/backstop" > "$work/publish.log" 2>&1 \
      || { tail -30 "$work/publish.log" >&2; exit 1; }
    BACKSTOP_BIN="$out/backstop/backstop"
  fi
  echo "bench: publishing the baseline" >&2
  dotnet publish "$bench_root/bench/Baseline/Baseline.csproj" -c Release -o "$out/baseline" > "$work/publish-baseline.log" 2>&1 \
    || { tail -30 "$work/publish-baseline.log" >&2; exit 1; }
  BASELINE_DLL="$out/baseline/baseline.dll"
  BACKSTOP_BIN=$(realpath "$BACKSTOP_BIN")
}

wait_ready() { # url
  for _ in $(seq 1 120); do
    curl -sf -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.25
  done
  echo "bench: $1 never answered" >&2
  return 1
}

# start_backstop <port> [env assignments...]: the published service in its own folder (./data/backstop.db there).
start_backstop() {
  local port=$1; shift
  mkdir -p "$work/backstop"
  # Warning level and no job server: request logging and Hangfire polling would measure the console and the
  # scheduler, not the request path (scripts/load-webhooks.sh does the same). The per-key request limit stays on
  # (its check is part of the path measured) but high enough that one key's load is never refused.
  (cd "$work/backstop" && exec env Serilog__MinimumLevel__Default=Warning Jobs__RunServer=false ApiKeys__RequestsPerMinute=10000000 "$@" \
    "$BACKSTOP_BIN" --urls "http://127.0.0.1:$port" > "$work/backstop.log" 2>&1) &
  pids+=($!)
  backstop_pid=$!
  wait_ready "http://127.0.0.1:$port/health/ready" || { tail -20 "$work/backstop.log" >&2; exit 1; }
}

start_baseline() { # <port> [args...]
  local port=$1; shift
  (cd "$work" && exec dotnet "$BASELINE_DLL" --urls "http://127.0.0.1:$port" "$@" > "$work/baseline.log" 2>&1) &
  pids+=($!)
  baseline_pid=$!
  wait_ready "http://127.0.0.1:$port/json" || { tail -20 "$work/baseline.log" >&2; exit 1; }
}

# load <name> <url> [wrk options...] [-- script args...]: a warm-up, then the measured run; sets rps, p99_ms, non2xx
# and prints one line.
load() {
  local name=$1 url=$2; shift 2
  local opts=() rest=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && rest=("$@")
  local threads=${BENCH_THREADS:-1} conns=${BENCH_CONNECTIONS:-16} out
  out="$work/wrk-$(tr -c 'A-Za-z0-9' '_' <<< "$name").txt"
  [ "${skip_warmup:-0}" = 1 ] || wrk -t"$threads" -c"$conns" -d"${warmup}s" "${opts[@]}" "$url" "${rest[@]}" > /dev/null
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "${opts[@]}" "$url" "${rest[@]}" > "$out"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99_ms=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.2f", v}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out"); non2xx=${non2xx:-0}
  local errors; errors=$(grep -E '^\s+Socket errors:' "$out" || true)
  [ -n "$rps" ] || { cat "$out" >&2; echo "bench: wrk printed no rate for $name" >&2; exit 1; }
  printf '%-34s %10.0f req/s   p99 %8s ms   non-2xx %s%s\n' "$name" "$rps" "$p99_ms" "$non2xx" "${errors:+   $errors}"
}

# load_cpu <pid> <name> <url> [wrk options...]: load after its own warm-up, and the CPU time (user + system, from
# /proc) the process <pid> spent per request of the measured run; sets cpu_us. Other load on the machine moves
# req/s a lot and this much less, so it is the steadier figure for comparing two builds.
load_cpu() {
  local pid=$1 name=$2 url=$3; shift 3
  wrk -t"${BENCH_THREADS:-1}" -c"${BENCH_CONNECTIONS:-16}" -d"${warmup}s" "$@" "$url" > /dev/null
  local tick c0 c1 n
  tick=$(getconf CLK_TCK); c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local s0 s1 t0 t1; read -r s0 t0 < <(machine_cpu)
  skip_warmup=1 load "$name" "$url" "$@"
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  read -r s1 t1 < <(machine_cpu)
  n=$(awk '/requests in/ {print $1}' "$work/wrk-$(tr -c 'A-Za-z0-9' '_' <<< "$name").txt")
  cpu_us=$(awk -v a="$c0" -v b="$c1" -v t="$tick" -v n="$n" 'BEGIN { printf "%.1f", (n > 0 ? (b - a) / t * 1e6 / n : 0) }')
  steal_pct=$(awk -v a="$s0" -v b="$s1" -v x="$t0" -v y="$t1" 'BEGIN { printf "%.0f", (y > x ? (b - a) * 100 / (y - x) : 0) }')
  echo "  CPU of the serving process: $cpu_us us per request; CPU the hypervisor took from this machine meanwhile (steal): ${steal_pct}%"
}

# machine_cpu: the machine's steal time and total CPU time so far, in ticks (first line of /proc/stat). On a shared
# virtual machine a round with much steal ran on a slower machine.
# (user … steal: the guest fields after them are already counted in user and nice.)
machine_cpu() { awk 'NR == 1 { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i; print $9, t }' /proc/stat; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

machine_note() {
  echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); wrk -t${BENCH_THREADS:-1} -c${BENCH_CONNECTIONS:-16}, ${duration} s per side (+${warmup} s warm-up)"
}

# A throwaway PostgreSQL from this machine's binaries, as the tests start one, but durable: fsync and
# synchronous_commit stay at their defaults (on). Sets pg_conn.
start_postgres() {
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$bin/initdb" ] || { echo "bench: no /usr/lib/postgresql/*/bin/initdb on this machine" >&2; exit 1; }
  pg_bin=$bin
  # Its own folder: the postgres user cannot enter $work (mode 700, root's).
  pg_dir=$(mktemp -d /tmp/bench-pg.XXXXXX); pg_data="$pg_dir/data"
  pg_run=()
  if [ "$(id -u)" = 0 ]; then
    getent passwd postgres >/dev/null || useradd --system --no-create-home postgres
    chown postgres "$pg_dir"
    pg_run=(runuser -u postgres --)
  fi
  local port; port=$(free_port)
  "${pg_run[@]}" "$bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 > "$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  "${pg_run[@]}" "$bin/pg_ctl" -D "$pg_data" -l "$pg_dir/server.log" -w -t 60 \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" start > /dev/null \
    || { cat "$pg_dir/server.log" >&2; exit 1; }
  pg_port=$port
  pg_conn_for() { echo "Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=$1"; }
  "${pg_run[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "create database backstop" -c "create database baseline" > /dev/null
  echo "bench: postgres on port $port: fsync=$("${pg_run[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc 'show fsync'), synchronous_commit=$("${pg_run[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc 'show synchronous_commit')" >&2
}

stop_postgres() {
  "${pg_run[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop > /dev/null 2>&1 || true
  pg_data=""
}

# sign_events <file> <count> <id prefix>: Stripe events with distinct ids, signed now with $stripe_secret
# (t=<unix>,v1=HMAC-SHA256(secret, "<t>.<body>"), Stripe's documented scheme).
sign_events() {
  python3 - "$1" "$2" "$3" "$stripe_secret" <<'PY'
import hmac, hashlib, sys, time
path, count, prefix, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = int(time.time())
key = secret.encode()
with open(path, "w") as f:
    for i in range(count):
        body = ('{"id":"evt_%s_%d","object":"event","type":"customer.created","api_version":"2019-02-19","created":%d,'
                '"livemode":false,"data":{"object":{"id":"cus_%s_%d","object":"customer"}}}') % (prefix, i, t, prefix, i)
        sig = hmac.new(key, ("%d.%s" % (t, body)).encode(), hashlib.sha256).hexdigest()
        f.write("t=%d,v1=%s\t%s\n" % (t, sig, body))
PY
}

# load_events <name> <url>: like load, but every request is a distinct signed event (warm-up events are others).
# Sets requests (sent in the measured run) and prints a warning when the file ran out and events repeated.
load_events() {
  local name=$1 url=$2 tag; tag=$(tr -c 'A-Za-z0-9' '_' <<< "$name")
  local threads=${BENCH_THREADS:-1}
  # More than this machine can take in the time: every request of a run is a distinct event.
  local per_second=${BENCH_MAX_RATE:-12000}
  sign_events "$work/warm-$tag.txt" $((warmup * per_second)) "warm_${tag}_$RANDOM"
  [ -f "$work/events.txt" ] || sign_events "$work/events.txt" $((duration * per_second)) "run_$RANDOM"
  wrk -t"$threads" -c"${BENCH_CONNECTIONS:-16}" -d"${warmup}s" -s "$bench_root/bench/stripe-events.lua" "$url" -- "$work/warm-$tag.txt" "$threads" > /dev/null
  skip_warmup=1 load "$name" "$url" -s "$bench_root/bench/stripe-events.lua" -- "$work/events.txt" "$threads"
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-$tag.txt")
  local distinct; distinct=$(wc -l < "$work/events.txt")
  [ "$requests" -le "$distinct" ] || echo "  warning: $requests requests for $distinct events: $((requests - distinct)) were duplicates (raise BENCH_MAX_RATE)"
}

# webhook_bench sqlite|postgres: signed Stripe events into POST /webhooks/stripe (verified, stored, processed,
# acknowledged) against the baseline's one durable insert per event on the same database engine.
webhook_bench() {
  local kind=$1
  ensure_wrk
  publish
  stripe_secret="whsec_bench$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  local api base; api=$(free_port); base=$(free_port)
  local db_env=() base_args=()
  if [ "$kind" = postgres ]; then
    start_postgres
    db_env=(Database__Provider=postgres "Database__ConnectionString=$(pg_conn_for backstop)")
    base_args=(--postgres "$(pg_conn_for baseline)")
  else
    base_args=(--sqlite "$work/baseline.db")
  fi
  # Events are signed before the run: a tolerance wider than any run keeps the last of them fresh.
  start_backstop "$api" Stripe__WebhookSecret="$stripe_secret" Webhooks__SignatureToleranceSeconds=3600 "${db_env[@]}"
  start_baseline "$base" "${base_args[@]}"

  machine_note
  load_events "baseline insert ($kind)" "http://127.0.0.1:$base/events"
  local b_rps=$rps
  load_events "backstop POST /webhooks/stripe" "http://127.0.0.1:$api/webhooks/stripe"
  [ "$non2xx" = 0 ] || { echo "bench: backstop answered $non2xx deliveries with an error" >&2; tail -5 "$work/backstop.log" >&2; exit 1; }
  local metrics stored duplicate
  metrics=$(curl -s "http://127.0.0.1:$api/metrics")
  stored=$(awk '/^backstop_webhooks_received_total\{provider="stripe"\}/ {print $2}' <<< "$metrics")
  duplicate=$(awk '/^backstop_webhooks_duplicate_total\{provider="stripe"\}/ {print $2}' <<< "$metrics")
  echo "backstop stored ${stored:-0} events (warm-up included), ${duplicate:-0} duplicates; RSS after: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$backstop_pid/status)"
  echo "ratio backstop/baseline: $(ratio "$rps" "$b_rps")x"
}
