#!/usr/bin/env bash
# Stops an nchan peer started by start.sh and removes its temporary prefix.
# usage: stop.sh PREFIX [--fast] [--keep]
#   default: SIGTERM to the master (nginx fast shutdown, ~1.5 s with nchan), SIGKILL after 10 s
#   --fast:  SIGKILL the workers and the master at once (fine between benchmark runs: nginx
#            keeps nothing on disk and its shared memory is anonymous)
#   --keep:  leave the prefix (configuration, error.log) in place
set -euo pipefail
prefix=${1:?usage: stop.sh PREFIX [--fast] [--keep]}
shift
fast=0
keep=0
for a in "$@"; do
    case $a in
    --fast) fast=1 ;;
    --keep) keep=1 ;;
    *) echo "stop.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done
pidfile="$prefix/nginx.pid"
if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        if [ "$fast" -eq 1 ]; then
            workers=$(pgrep -P "$pid" || true)
            kill -KILL "$pid" 2>/dev/null || true
            # shellcheck disable=SC2086 # one pid per word
            [ -z "$workers" ] || kill -KILL $workers 2>/dev/null || true
        else
            kill -TERM "$pid" 2>/dev/null || true
        fi
        for _ in $(seq 200); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
fi
# only a prefix made by start.sh is removed
if [ "$keep" -eq 0 ] && [ -e "$prefix/.nchan-bench" ]; then
    rm -rf "$prefix"
fi
