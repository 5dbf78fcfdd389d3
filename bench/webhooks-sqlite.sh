#!/usr/bin/env bash
# Signed Stripe events into POST /webhooks/stripe on SQLite against bare Kestrel storing each body with one
# fsync'd SQLite insert (WAL, synchronous=FULL), in the same run; every request is a distinct event.
#   bench/webhooks-sqlite.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
parse_args "$@"
webhook_bench sqlite
