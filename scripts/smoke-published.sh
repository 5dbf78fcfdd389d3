#!/usr/bin/env bash
# Publishes the single-file binary and checks it as an operator would use it: zero-configuration start on
# ./data/backstop.db, restart, `backstop migrate`, and the refusal of bad configuration.
# Prints "smoke: N passed, N failed, N skipped" as its last line; exits non-zero when a check failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${SMOKE_OUT:-$(mktemp -d)/publish}
work=$(mktemp -d)
passed=0; failed=0; skipped=0
pass() { echo "  ok   $1"; passed=$((passed+1)); }
fail() { echo "  FAIL $1"; failed=$((failed+1)); }
skip() { echo "  skip $1"; skipped=$((skipped+1)); }
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "smoke: publishing the single-file binary"
if ! dotnet publish "$root/App.csproj" -c Release -r linux-x64 -o "$out" -p:UseAppHost=true > "$work/publish.log" 2>&1; then
  tail -30 "$work/publish.log"; fail "dotnet publish"; echo "smoke: $passed passed, $failed failed, $skipped skipped"; exit 1
fi
bin="$out/backstop"
[ -x "$bin" ] && pass "one executable 'backstop' is published ($(du -h "$bin" | cut -f1))" || fail "published executable missing"
if ls "$out"/*.dll >/dev/null 2>&1; then fail "no loose assemblies beside the binary"; else pass "no loose assemblies beside the binary"; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

wait_ready() { # url, seconds
  for _ in $(seq 1 "$2"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) && [ "$code" = 200 ] && return 0
    sleep 1
  done
  return 1
}

start() { # log file, extra args...
  local log=$1; shift
  # No DOTNET_ROOT and no .NET on PATH: the binary must carry its runtime.
  (cd "$work" && exec env -u DOTNET_ROOT PATH=/usr/bin:/bin "$bin" "$@" > "$log" 2>&1) &
  pid=$!
}
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }

port=$(free_port)
start "$work/first.log" --urls "http://127.0.0.1:$port"
if wait_ready "http://127.0.0.1:$port/health/ready" 60; then pass "zero-config start answers /health/ready"; else fail "zero-config start answers /health/ready"; cat "$work/first.log" | tail -20; fi
[ -f "$work/data/backstop.db" ] && pass "creates ./data/backstop.db" || fail "creates ./data/backstop.db"
# stdout is redirected to a file here, not a terminal: the generated key goes to ./data/admin-key, never the log.
grep -q 'bsa_' "$work/first.log" && fail "first start keeps the generated admin key out of its (redirected) output" || pass "first start keeps the generated admin key out of its (redirected) output"
grep -q 'admin-key' "$work/first.log" && pass "the log says where the admin key was written" || fail "the log says where the admin key was written"
key=$(cat "$work/data/admin-key" 2>/dev/null | tr -d '[:space:]')
case "$key" in bsa_*) pass "first start writes a generated admin key to ./data/admin-key";; *) fail "first start writes a generated admin key to ./data/admin-key";; esac
[ "$(stat -c %a "$work/data/admin-key" 2>/dev/null)" = 600 ] && pass "the admin key file is 0600" || fail "the admin key file is 0600"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/admin/jobs")
[ "$code" = 200 ] && pass "the written admin key opens /v1/admin/jobs" || fail "the written admin key opens /v1/admin/jobs (got $code)"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$key" "http://127.0.0.1:$port/hangfire")
[ "$code" = 200 ] && pass "the admin key opens the dashboard" || fail "the admin key opens the dashboard (got $code)"
"$bin" healthcheck "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && pass "'backstop healthcheck' (the container HEALTHCHECK) succeeds" || fail "'backstop healthcheck' succeeds"
mode=$(sqlite3 "$work/data/backstop.db" 'pragma journal_mode' 2>/dev/null || true)
if [ -n "$mode" ]; then [ "$mode" = wal ] && pass "database is in WAL mode" || fail "database is in WAL mode (got $mode)"; else skip "WAL mode (no sqlite3 client)"; fi
stop
"$bin" healthcheck "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && fail "'backstop healthcheck' fails when nothing answers" || pass "'backstop healthcheck' fails when nothing answers"

start "$work/second.log" --urls "http://127.0.0.1:$port"
if wait_ready "http://127.0.0.1:$port/health/ready" 60; then pass "restart on the same file answers /health/ready"; else fail "restart on the same file"; fi
grep -q '0 migrations applied now' "$work/second.log" && pass "restart applies no migration" || fail "restart applies no migration"
grep -q 'bsa_' "$work/second.log" && fail "restart does not print the admin key again" || pass "restart does not print the admin key again"
stop

# Admin:Urls: the operator's endpoints on a second port only; the main port answers them 404 admin_port_only.
aport=$(free_port)
while [ "$aport" = "$port" ]; do aport=$(free_port); done
export Admin__Urls="http://127.0.0.1:$aport"
start "$work/admin-port.log" --urls "http://127.0.0.1:$port"
unset Admin__Urls
if wait_ready "http://127.0.0.1:$port/health/ready" 60; then
  code=$(curl -s -o "$work/admin-port.body" -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$aport/v1/admin/jobs")
  [ "$code" = 200 ] && pass "Admin:Urls serves /v1/admin/jobs on the second port" || fail "Admin:Urls serves /v1/admin/jobs on the second port (got $code)"
  code=$(curl -s -o "$work/main-port.body" -w '%{http_code}' -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/admin/jobs")
  if [ "$code" = 404 ] && grep -q '"admin_port_only"' "$work/main-port.body"; then
    pass "with Admin:Urls the main port answers /v1/admin/jobs 404 admin_port_only"
  else
    fail "with Admin:Urls the main port answers /v1/admin/jobs 404 admin_port_only (got $code: $(head -c 200 "$work/main-port.body"))"
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")
  [ "$code" = 200 ] && pass "with Admin:Urls the main port still answers /health/ready" || fail "with Admin:Urls the main port still answers /health/ready (got $code)"
else
  fail "start with Admin:Urls answers /health/ready"; tail -20 "$work/admin-port.log"
fi
stop

if (cd "$work" && "$bin" migrate > "$work/migrate.log" 2>&1); then pass "'backstop migrate' exits 0"; else fail "'backstop migrate' exits 0"; fi

(cd "$work" && env Database__Provider=postgres Admin__ApiKey=short Jobs__WorkerCount=lots "$bin" > "$work/bad.log" 2>&1)
rc=$?
[ "$rc" = 1 ] && pass "invalid configuration exits 1" || fail "invalid configuration exits 1 (got $rc)"
if grep -q 'Database:ConnectionString' "$work/bad.log" && grep -q 'Admin:ApiKey' "$work/bad.log" && grep -q 'Jobs:WorkerCount' "$work/bad.log" && ! grep -q '   at ' "$work/bad.log"; then
  pass "one message names every bad key, without a stack trace"
else
  fail "one message names every bad key"; cat "$work/bad.log"
fi

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  skip "default port 8080 (in use on this machine)"
else
  rm -rf "$work/data"
  start "$work/default.log"
  if wait_ready "http://localhost:8080/health/live" 60; then pass "with no --urls it listens on http://localhost:8080"; else fail "listens on http://localhost:8080"; fi
  stop
fi

# The README's first-five-minutes tour, against the published binary (no .NET on PATH).
if env -u DOTNET_ROOT PATH=/usr/bin:/bin:/usr/local/bin BACKSTOP="$bin" bash "$root/scripts/tour.sh" > "$work/tour.log" 2>&1; then
  pass "the README tour runs as documented (scripts/tour.sh)"
else
  fail "the README tour runs as documented (scripts/tour.sh)"; tail -20 "$work/tour.log"
fi

echo "smoke: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
