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
  # scheduler, not the request path (scripts/load-webhooks.sh does the same).
  (cd "$work/backstop" && exec env Serilog__MinimumLevel__Default=Warning Jobs__RunServer=false "$@" \
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

# load <name> <url> [wrk args...]: a warm-up, then the measured run; sets rps, p99_ms, non2xx and prints one line.
load() {
  local name=$1 url=$2; shift 2
  local threads=${BENCH_THREADS:-1} conns=${BENCH_CONNECTIONS:-16} out
  out="$work/wrk-$(tr -c 'A-Za-z0-9' '_' <<< "$name").txt"
  wrk -t"$threads" -c"$conns" -d"${warmup}s" "$@" "$url" > /dev/null
  wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$@" "$url" > "$out"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p99_ms=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; printf "%.2f", v}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out"); non2xx=${non2xx:-0}
  local errors; errors=$(grep -E '^\s+Socket errors:' "$out" || true)
  [ -n "$rps" ] || { cat "$out" >&2; echo "bench: wrk printed no rate for $name" >&2; exit 1; }
  printf '%-34s %10.0f req/s   p99 %8s ms   non-2xx %s%s\n' "$name" "$rps" "$p99_ms" "$non2xx" "${errors:+   $errors}"
}

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
  pg_dir="$work/pg"; pg_data="$pg_dir/data"; mkdir -p "$pg_dir"
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
