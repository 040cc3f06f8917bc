#!/usr/bin/env bash
# Cluster mode at scale, in one run on this machine: three ssebroker nodes sharing one Redis
# Stream, then three nginx+nchan instances in nchan's Redis mode on the same (flushed) Redis.
# bench/loadgen spreads the subscribers over the three nodes (--sub-ports) from several
# processes (one process holds at most ~19,900 sockets here) and publishes through the first
# node; every update must reach every subscriber. Topics are plain words (bench-t0): nchan's
# Redis publish script fails (HTTP 500, "invalid option '%A' to 'format'") on a channel id with
# percent-escapes, such as a URL topic.
#
# usage: bench/cluster.sh            (writes bench/out/cluster-<date>/results.md)
# Environment: CLUSTER_SUBS (50000), CLUSTER_UPDATES (100), CLUSTER_RATE (0: as fast as the
#   publishers go; else updates/s), CLUSTER_PROCS (4), CLUSTER_TARGETS ("ssebroker nchan"),
#   SSEBROKER_BIN, LOADGEN_BIN, BENCH_OUT, BENCH_PORT (18300).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/need.sh
need_tools jq curl redis-server
bin=${SSEBROKER_BIN:-build/ssebroker}
loadgen=${LOADGEN_BIN:-build/loadgen}
[ -x "$bin" ] && [ -x "$loadgen" ] || bash scripts/build.sh release >&2
subs=${CLUSTER_SUBS:-50000}
updates=${CLUSTER_UPDATES:-100}
rate=${CLUSTER_RATE:-0}
procs=${CLUSTER_PROCS:-4}
targets=${CLUSTER_TARGETS:-"ssebroker nchan"}
out=${BENCH_OUT:-bench/out/cluster-$(date +%Y%m%d-%H%M%S)}
base=${BENCH_PORT:-18300}
redis_port=$((base + 9))
mkdir -p "$out"
scratch=$(mktemp -d)
pids=()
nchan_prefixes=()
log() { echo "[cluster-bench $(date +%H:%M:%S)] $*" >&2; }

stop_servers() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    for pre in "${nchan_prefixes[@]}"; do bench/peers/nchan/stop.sh "$pre" --fast >/dev/null 2>&1 || true; done
    nchan_prefixes=()
}
cleanup() {
    stop_servers
    [ -z "${redis_pid:-}" ] || kill "$redis_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

wait_http() { # port path
    for _ in $(seq 200); do
        curl -fsS "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "127.0.0.1:$1$2 did not answer" >&2
    return 1
}

# CPU seconds (user + system) of the given pids, from /proc.
cpu_of() {
    local total=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{print t + ($14 + $15) / hz}' "/proc/$p/stat")
    done
    echo "$total"
}

ulimit -n "$(ulimit -Hn)"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$scratch" --save "" --appendonly yes \
    --appendfsync always --maxmemory-policy noeviction >"$out/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
log "redis-server on $redis_port (AOF, appendfsync always); $subs subscribers over 3 nodes, $updates updates"

ports="$base,$((base + 1)),$((base + 2))"
printf '| server (3 nodes, one Redis) | streams | updates | deliveries/s | delivered | lost | latency p50 ms | p99 ms | server CPU s | deliveries per server CPU s |\n|---|---|---|---|---|---|---|---|---|---|\n' >"$out/results.md"
for t in $targets; do
    redis-cli -p "$redis_port" flushall >/dev/null
    server_pids=()
    case $t in
    ssebroker)
        for i in 0 1 2; do
            "$bin" --listen "127.0.0.1:$((base + i))" --workers 1 --redis "redis://127.0.0.1:$redis_port" \
                --max-connections 19000 --heartbeat 30s 2>>"$out/ssebroker-$i.log" &
            pids+=($!)
            server_pids+=($!)
        done
        for i in 0 1 2; do wait_http $((base + i)) /readyz; done
        mode=mercure
        ;;
    nchan)
        for i in 0 1 2; do
            pre="$scratch/nchan-$i"
            bench/peers/nchan/start.sh --port $((base + i)) --workers 1 --prefix "$pre" \
                --redis "redis://127.0.0.1:$redis_port" --background >"$out/nchan-$i.pid" 2>>"$out/nchan-$i.log"
            nchan_prefixes+=("$pre")
            master=$(tail -n 1 "$out/nchan-$i.pid")
            server_pids+=($(pgrep -P "$master"))
        done
        for i in 0 1 2; do wait_http $((base + i)) /healthz; done
        sleep 1 # nchan connects to Redis after it starts answering
        mode=nchan
        ;;
    esac
    cpu0=$(cpu_of "${server_pids[@]}")
    log "$t: loadgen"
    rate_args=()
    [ "$rate" = 0 ] || rate_args=(--rate "$rate")
    json=$("$loadgen" --target "$mode" --name "$t-cluster" --label cluster --port "$base" \
        --sub-ports "$ports" --topic-prefix bench-t --subs "$subs" --procs "$procs" --updates "$updates" --pub-conns 4 \
        "${rate_args[@]}" --connect-rate 20000 --settle-ms 3000 --drain-ms 10000 --timeout 600 \
        --quiet 2>>"$out/loadgen-$t.log" | grep '^{' | tail -n 1) || true # exit 1: anomalies, reported
    [ -n "$json" ] || json='{}'
    cpu1=$(cpu_of "${server_pids[@]}")
    echo "$json" >>"$out/results.jsonl"
    stop_servers
    cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')
    delivered=$(jq -r '.deliveries // 0' <<<"$json")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$subs" "$updates" \
        "$(jq -r '.deliveries_per_s // "-"' <<<"$json")" "$delivered" "$(jq -r '.lost // "-"' <<<"$json")" \
        "$(jq -r '.lat_p50_ms // "-"' <<<"$json")" "$(jq -r '.lat_p99_ms // "-"' <<<"$json")" "$cpu" \
        "$(awk -v d="$delivered" -v c="$cpu" 'BEGIN {if (c > 0) printf "%.0f", d / c; else print "-"}')" \
        >>"$out/results.md"
done
cat "$out/results.md"
