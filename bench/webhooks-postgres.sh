#!/usr/bin/env bash
# Signed Stripe events into POST /webhooks/stripe on PostgreSQL against bare Kestrel storing each body with one
# insert on the same throwaway server (fsync and synchronous_commit on), in the same run; every request is a
# distinct event.   bench/webhooks-postgres.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
parse_args "$@"
webhook_bench postgres
