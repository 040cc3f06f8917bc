#!/usr/bin/env bash
# Bounded soak test (scripts/test.sh runs short ones; this runs longer ones): a couple of thousand subscribers connect,
# disconnect, stall and resume with Last-Event-ID while publishers run for SECONDS (default 60).
# Checks exactly-once in-order delivery of every acknowledged update, RSS back near baseline, and a
# clean SIGTERM exit (with the ASan build: no leak report).
#   scripts/soak.sh [SECONDS] [release|asan] [extra soak.mjs options, e.g. --subscribers 3000 --rate 4000 --rounds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
flavour="${2:-release}"
shift $(( $# > 2 ? 2 : $# )) || true
case "$flavour" in
    release) bin=build/ssebroker ;;
    asan) bin=build-asan/ssebroker ;;
    *) echo "usage: $0 [seconds] [release|asan] [soak options]" >&2; exit 2 ;;
esac
scripts/build.sh "$flavour" >/dev/null
# 2000 subscribers, publishers and the broker's descriptors: make sure the client side has room.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
SSEBROKER_BIN="$bin" exec node tests/soak/soak.mjs --seconds "$seconds" "$@"
