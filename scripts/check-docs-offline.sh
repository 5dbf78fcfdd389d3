#!/usr/bin/env bash
# Loads /docs in headless Chromium and fails if the page asked for anything from a host other than this server
# (fonts, scripts, telemetry, the agent, ...). The browser's own background traffic goes to a dead local proxy, so
# nothing leaves the machine; the page's requests are told apart by their initiator in Chromium's NetLog.
#   scripts/check-docs-offline.sh            (needs chromium and python3: apt-get install chromium)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
dotnet build "$root/App.csproj" -o "$work/bin" > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
port=$((20000 + RANDOM % 20000))
(cd "$work" && exec env Database__ConnectionString="Data Source=$work/backstop.db" Jobs__RunServer=false \
  Serilog__MinimumLevel__Default=Warning dotnet "$work/bin/backstop.dll" --urls "http://127.0.0.1:$port" > "$work/server.log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done

timeout 120 chromium --headless=new --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --disable-default-apps --disable-extensions --no-pings \
  --proxy-server="http://127.0.0.1:9" --user-data-dir="$work/chrome" --log-net-log="$work/net.json" \
  --virtual-time-budget=20000 --window-size=1400,1000 --screenshot="$work/docs.png" \
  "http://127.0.0.1:$port/docs/v1" > "$work/chrome.log" 2>&1 || true

python3 - "$work/net.json" "http://127.0.0.1:$port" <<'PY'
import json, sys
from urllib.parse import urlsplit
log, origin = json.load(open(sys.argv[1])), sys.argv[2]
names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
page, outside = [], []
for event in log["events"]:
    params = event.get("params", {})
    if names.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
        continue
    url = params["url"]
    # The navigation itself has no initiator; everything the page loads names the page's origin.
    if params.get("initiator") != origin and not url.startswith(origin + "/docs/v1"):
        continue
    page.append(url)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        outside.append(url)
print(f"/docs made {len(page)} requests:")
for url in page: print("  " + url)
if not any(u.endswith("/openapi/v1.json") for u in page):
    sys.exit("the page never loaded the OpenAPI document: it did not render")
if outside:
    sys.exit("requests to other hosts:\n  " + "\n  ".join(outside))
print("no request left this server")
PY
