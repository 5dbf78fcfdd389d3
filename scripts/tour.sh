#!/usr/bin/env bash
# The README's "first five minutes", run command by command so the tour never rots: start the service on a fresh
# directory, create an organization and a key, send a signed test webhook, see it in the inbox, replay it, consume
# usage and see the usage move. CI runs it against the published binary (scripts/smoke-published.sh) and the tests
# against the built one (tests/…/TourTests.cs). Each step checks the answer the README shows.
#   BACKSTOP="path/to/backstop" scripts/tour.sh        (default: backstop on PATH)
#   BACKSTOP="dotnet path/to/backstop.dll" scripts/tour.sh
# Prints "tour: ok" as its last line and exits 0 when every step answered as documented.
set -euo pipefail
read -r -a backstop <<< "${BACKSTOP:-backstop}"
work=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
step() { echo "tour: $*"; }
# json <expression over d> : evaluates a JavaScript expression over the JSON on stdin with node (no jq or python needed).
json() { node -e "let s = ''; process.stdin.on('data', c => s += c).on('end', () => { const d = JSON.parse(s); const v = ($1); console.log(v == null ? '' : String(v)); })"; }
fail() { echo "tour: FAILED: $*"; [ -f "$work/service.log" ] && tail -20 "$work/service.log"; exit 1; }
cd "$work"

# 1. Start the service (zero configuration: SQLite at ./data/backstop.db) with a Stripe webhook secret.
export Stripe__WebhookSecret=whsec_tour_0123456789abcdef
export Jobs__RunServer=false
"${backstop[@]}" --urls "http://127.0.0.1:$port" > "$work/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && break; sleep 0.5; done
curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null || fail "the service did not become ready"
BACKSTOP_URL="http://127.0.0.1:$port"
ADMIN_KEY=$(cat data/admin-key)
step "started; admin key in ./data/admin-key"

# 2. Create an organization and an API key for it.
org=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d '{"name":"Acme"}' "$BACKSTOP_URL/v1/admin/organizations")
ORG_ID=$(echo "$org" | json "d['id']")
[ -n "$ORG_ID" ] || fail "no organization id in $org"
key=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d '{"name":"tour"}' "$BACKSTOP_URL/v1/admin/organizations/$ORG_ID/api-keys")
API_KEY=$(echo "$key" | json "d['key']")
case "$API_KEY" in bsk_*) ;; *) fail "no bsk_ key in $key";; esac
step "organization $ORG_ID with a key"

# 3. Send a signed test webhook (signed with Stripe__WebhookSecret, as Stripe signs).
sent=$("${backstop[@]}" send-test-webhook stripe "$BACKSTOP_URL")
echo "$sent" | grep -q ': 200 ' || fail "send-test-webhook answered: $sent"
EVENT_ID=$(echo "$sent" | cut -d' ' -f1)
step "sent $EVENT_ID"

# 4. See it in the inbox: stored, and ignored (no handler takes backstop.test events).
inbox=$(curl -sf -H "Authorization: Bearer $ADMIN_KEY" "$BACKSTOP_URL/v1/admin/webhooks?provider=stripe&type=backstop.test")
WEBHOOK_ID=$(echo "$inbox" | json "d.items.find(i => i.eventId === '$EVENT_ID')?.id")
[ "$(echo "$inbox" | json "d.items.find(i => i.eventId === '$EVENT_ID')?.status")" = ignored ] || fail "not in the inbox as ignored: $inbox"
step "in the inbox as $WEBHOOK_ID (ignored)"

# 5. Replay it.
replayed=$(curl -sf -X POST -H "Authorization: Bearer $ADMIN_KEY" "$BACKSTOP_URL/v1/admin/webhooks/$WEBHOOK_ID/replay")
[ "$(echo "$replayed" | json "d['replayCount']")" = 1 ] || fail "replay answered $replayed"
step "replayed once"

# 6. Declare a metric with a limit, consume usage with the organization's key, and see it move.
curl -sf -X PUT -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d '{"kind":"counter","description":"API calls","defaultLimit":100}' "$BACKSTOP_URL/v1/admin/metrics/api_calls" > /dev/null \
  || fail "could not declare the metric"
before=$(curl -sf -H "Authorization: Bearer $API_KEY" "$BACKSTOP_URL/v1/usage/api_calls" | json "d['used']")
curl -sf -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' -d '{"amount":3}' "$BACKSTOP_URL/v1/usage/api_calls/consume" > /dev/null \
  || fail "could not consume"
after=$(curl -sf -H "Authorization: Bearer $API_KEY" "$BACKSTOP_URL/v1/usage/api_calls" | json "d.used + '/' + d.limit")
[ "$before" = 0 ] && [ "$after" = "3/100" ] || fail "usage went from $before to $after, not 0 to 3/100"
step "usage of api_calls: $after"
echo "tour: ok"
