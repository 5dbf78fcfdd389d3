#!/usr/bin/env bash
# 64 clients consuming one metric of one organization (SQLite) against the raw fsync'd single-row update on SQLite,
# then both run into a limit (zero over-admission).   bench/quota-consume.sh [seconds=20] [--quick]
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/quota-lib.sh"
parse_args "$@"
consume_bench sqlite
