#!/usr/bin/env bash
# Starts nginx + nchan as the benchmark's nchan peer under a temporary prefix: the system
# nginx configuration and service are neither used nor changed. One worker per core,
# SO_REUSEPORT listener, open-file limit raised to the hard limit.
#
# usage: start.sh [--port N] [--workers N] [--prefix DIR] [--shm SIZE] [--redis URL] [--background]
#        start.sh --install-only   (install the packages if missing, then exit)
#   default: nginx runs in the foreground (exec), so the caller's $! is the master pid.
#   --background: start it, wait until the port answers, print the master pid, return.
# stop:  stop.sh PREFIX   (or kill -TERM the master pid; the prefix is printed on stderr)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=18081
workers=$(nproc)
prefix=""
shm=256M
background=0
install_only=0
redis=
while [ $# -gt 0 ]; do
    case "$1" in
    --port) port=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --shm) shm=$2; shift 2 ;;
    --redis) redis="nchan_redis_url $2; nchan_use_redis on;"; shift 2 ;;
    --background) background=1; shift ;;
    --install-only) install_only=1; shift ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "start.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

module=/usr/lib/nginx/modules/ngx_nchan_module.so
if ! command -v nginx >/dev/null 2>&1 || [ ! -e "$module" ]; then
    echo "nchan peer: installing nginx-light and libnginx-mod-nchan" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # keep the package's postinst from starting the system nginx service
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y --no-install-recommends nginx-light libnginx-mod-nchan >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y --no-install-recommends nginx-light libnginx-mod-nchan >&2
    fi
    [ -z "$policy" ] || $sudo rm -f "$policy"
fi
[ -e "$module" ] || { echo "nchan peer: $module missing" >&2; exit 1; }
[ "$install_only" -eq 0 ] || exit 0

nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
ulimit -n "$nofile"
if [ -z "$prefix" ]; then
    prefix=$(mktemp -d /tmp/nchan-bench.XXXXXX)
fi
mkdir -p "$prefix"/tmp/{body,proxy,fastcgi,uwsgi,scgi}
touch "$prefix/.nchan-bench"
chmod 755 "$prefix"
chmod 1777 "$prefix"/tmp "$prefix"/tmp/*
user=""
[ "$(id -u)" -ne 0 ] || user="user nobody nogroup;"
sed -e "s|@MODULE@|$module|g" -e "s|@WORKERS@|$workers|g" -e "s|@NOFILE@|$nofile|g" \
    -e "s|@CONNS@|$nofile|g" -e "s|@PREFIX@|$prefix|g" -e "s|@SHM@|$shm|g" \
    -e "s|@LISTEN@|127.0.0.1:$port|g" -e "s|@USER@|$user|g" -e "s|@REDIS@|$redis|g" \
    "$here/nginx.conf.template" >"$prefix/nginx.conf"

nginx_cmd=(nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log")
echo "nchan peer: prefix $prefix, 127.0.0.1:$port, $workers workers" >&2
if [ "$background" -eq 0 ]; then
    exec "${nginx_cmd[@]}"
fi
# shellcheck source=../background.sh
. "$here/../background.sh"
start_background nchan "$port" "$prefix/stdout.log" "${nginx_cmd[@]}" || {
    echo "nchan peer: see $prefix/error.log" >&2
    exit 1
}
