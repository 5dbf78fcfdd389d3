#!/usr/bin/env bash
# 64 clients consuming one metric of one organization (PostgreSQL) against the raw single-row update on the same PostgreSQL,
# then both run into a limit (zero over-admission).   bench/quota-consume-postgres.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/quota-lib.sh"
parse_args "$@"
consume_bench postgres
