#!/usr/bin/env bash
# The embedded log against the memory store, in one run on this machine: publish throughput and
# latency with 1 and 32 concurrent publishers for memory and each --fsync mode; then the restart
# time with a large retained history, and a replay of all of it (mostly from the files); then the
# deep-replay reconnect storm (bench/storm.mjs: subscribers resuming at once from ids older than
# memory, found and replayed from the files).
#
# usage: bench/log.sh                     (writes bench/out/log-<date>/results.md)
# Environment: SSEBROKER_BIN (build/ssebroker), LOADGEN_BIN (build/loadgen),
#   LOG_UPDATES (20000 per run), LOG_RESTART_RECORDS (1000000; 0: no restart part), LOG_STORES
#   ("memory always interval never"; empty: none), LOG_STORM_SUBS (200; 0: no storm), BENCH_OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/need.sh
need_tools jq curl

bin=${SSEBROKER_BIN:-build/ssebroker}
loadgen=${LOADGEN_BIN:-build/loadgen}
updates=${LOG_UPDATES:-20000}
restart_records=${LOG_RESTART_RECORDS:-1000000}
storm_subs=${LOG_STORM_SUBS:-200}
out=${BENCH_OUT:-bench/out/log-$(date +%Y%m%d-%H%M%S)}
port=${BENCH_PORT:-18090}
mkdir -p "$out"
scratch=$(mktemp -d)
broker_pid=""
cleanup() {
    [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
log() { echo "[log-bench $(date +%H:%M:%S)] $*" >&2; }

start_broker() { # args...
    "$bin" --listen "127.0.0.1:$port" --workers 2 "$@" 2>>"$out/broker.log" &
    broker_pid=$!
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "broker did not start" >&2
    exit 1
}

stop_broker() {
    kill -TERM "$broker_pid"
    wait "$broker_pid" || true
    broker_pid=""
}

: >"$out/results.md"
[ -z "${LOG_STORES-memory}" ] ||
    printf '| store | publishers | acknowledged/s | publish ack p50 ms | ack p99 ms | publish-to-delivery p99 ms | server CPU s |\n|---|---|---|---|---|---|---|\n' >"$out/results.md"
for store in ${LOG_STORES-memory always interval never}; do
    for pubs in 1 32; do
        dir="$scratch/$store-$pubs"
        if [ "$store" = memory ]; then args=(); else args=(--history-dir "$dir" --fsync "$store"); fi
        log "$store, $pubs publishers"
        start_broker --history-size 200000 --history-bytes 1GiB "${args[@]}"
        json=$("$loadgen" --port "$port" --subs 10 --updates "$updates" --pub-conns "$pubs" \
            --pid "$broker_pid" --name "ssebroker-$store" --label "log-$store-$pubs" --quiet \
            --timeout 300 | grep '^{')
        stop_broker
        echo "$json" >>"$out/results.jsonl"
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$store" "$pubs" \
            "$(jq -r '.pub_rate' <<<"$json")" "$(jq -r '.ack_p50_ms' <<<"$json")" \
            "$(jq -r '.ack_p99_ms' <<<"$json")" "$(jq -r '.lat_p99_ms' <<<"$json")" \
            "$(jq -r '.server_cpu_publish_s' <<<"$json")" >>"$out/results.md"
    done
done

if [ "$restart_records" -gt 0 ]; then
    log "restart with $restart_records retained updates"
    dir="$scratch/restart"
    start_broker --history-dir "$dir" --fsync never --history-size "$restart_records" --history-bytes 4GiB
    "$loadgen" --port "$port" --subs 1 --updates "$restart_records" --pub-conns 32 --pipeline 8 \
        --quiet --timeout 600 >/dev/null
    stop_broker
    du -sh "$dir" >"$out/restart-disk.txt"
    t0=$(date +%s.%N)
    start_broker --history-dir "$dir" --history-size "$restart_records" --history-bytes 4GiB
    t1=$(date +%s.%N)
    rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$broker_pid/status")
    printf '\nRestart with %s retained updates (%s on disk): ready in %.2f s, RSS %s MiB after loading (the newest %s in memory, the rest indexed).\n' \
        "$restart_records" "$(cut -f1 "$out/restart-disk.txt")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        "$((rss_kb / 1024))" "$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^ssebroker_history_events / {print $2}')" >>"$out/results.md"
    # One subscriber reads all of it back (Last-Event-ID: earliest): all but the hot tier from the files.
    log "replaying $restart_records updates to one subscriber"
    # Node reads the socket itself (a pipe through curl holds back its last bytes until it exits).
    read -r got secs < <(timeout 300 node -e '
const [port, n] = [process.argv[1], Number(process.argv[2])];
const t0 = process.hrtime.bigint();
let k = 0, tail = "\n";
require("http").get({ host: "127.0.0.1", port, path: "/.well-known/mercure?topic=*",
  headers: { "Last-Event-ID": "earliest" } }, (res) => res.on("data", (d) => {
  const s = tail + d.toString("latin1");
  for (let i = s.indexOf("\nid: "); i >= 0; i = s.indexOf("\nid: ", i + 1)) k++;
  tail = s.slice(-4); // a match needs 5 characters: none is counted twice
  if (k >= n) { console.log(k, Number(process.hrtime.bigint() - t0) / 1e9); process.exit(0); }
}));' "$port" "$restart_records" || echo "0 300")
    rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$broker_pid/status")
    printf 'Replay of all of it to one subscriber (earliest, read as fast as it can): %s events in %.2f s, RSS %s MiB after.\n' \
        "$got" "$secs" "$((rss_kb / 1024))" >>"$out/results.md"
    stop_broker
fi

if [ "$storm_subs" -gt 0 ]; then
    log "deep-replay storm: $storm_subs subscribers resuming at once from ids older than memory"
    start_broker --history-dir "$scratch/storm" --fsync never --history-size 20000 \
        --history-memory 1000 --history-bytes 1GiB
    json=$(node bench/storm.mjs "$port" "$broker_pid" "$storm_subs" 20000)
    stop_broker
    echo "$json" >>"$out/storm.jsonl"
    printf '\nDeep-replay storm (%s subscribers at once, each resuming from an id spread over 20,000 retained ~1 KB updates, 1,000 in memory, reading all it is owed): heads p50 %s ms / max %s ms, all done in %s s (%s incomplete), heap +%s MiB at peak, RSS peak %s MiB.\n' \
        "$storm_subs" "$(jq -r .heads_p50_ms <<<"$json")" "$(jq -r .heads_max_ms <<<"$json")" \
        "$(jq -r .all_done_s <<<"$json")" "$(jq -r .incomplete <<<"$json")" \
        "$(jq -r .heap_growth_mib <<<"$json")" "$(jq -r .peak_rss_mib <<<"$json")" >>"$out/results.md"
fi
cat "$out/results.md"
