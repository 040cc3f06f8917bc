#!/usr/bin/env bash
# Starts the Node.js hub benchmark peer (installs its npm dependencies on first use).
# usage: start.sh [--port N] [--background]
#        start.sh --install-only   (npm install if needed, then exit)
#   default: node runs in the foreground (exec), so the caller's $! is the hub's pid.
#   --background: start it, wait until the port answers, print the pid, return.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=18082
background=0
install_only=0
while [ $# -gt 0 ]; do
    case "$1" in
    --port) port=$2; shift 2 ;;
    --background) background=1; shift ;;
    --install-only) install_only=1; shift ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
command -v node >/dev/null || { echo "node peer: node is not installed" >&2; exit 1; }
cd "$here"
if [ ! -d node_modules/express ]; then
    echo "node peer: npm install" >&2
    if [ -f package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error >&2
    else
        npm install --no-audit --no-fund --loglevel=error >&2
    fi
fi
[ "$install_only" -eq 0 ] || exit 0
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || ulimit -n "$nofile"
if [ "$background" -eq 0 ]; then
    exec node hub.js --port "$port"
fi
# shellcheck source=../background.sh
. "$here/../background.sh"
start_background node "$port" /dev/null node hub.js --port "$port"
