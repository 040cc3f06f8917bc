#!/usr/bin/env bash
# Where a fan-out's time goes, ssebroker beside the bound (bench/peers/bound): two parts.
#
#   bench/profile.sh [--fanout] [--instructions] [BIN...]
#       (default: both parts; BIN default build/ssebroker; the bound is build/bound;
#        writes bench/out/profile-<date>/results.md)
#
# --fanout: the fanout-1topic shape of bench/run.sh (PROFILE_SUBS 1,000 subscribers of
#   PROFILE_TOPICS 1 topic, PROFILE_FANOUT_UPDATES 2,000 updates, 8 keep-alive publishers, as fast as their window
#   allows), PROFILE_REPEAT times per server, alternating. `perf stat` counts, on the server's
#   threads and only while the updates are published and delivered (the load generator pauses
#   with --pause-ms so that perf can attach): the bytes the load generator read per delivery
#   (what the kernel and every client carry), system calls by kind (tracepoints), sends
#   (sock:sock_send_length: every send, io_uring's included), wake-ups the server causes
#   (sched:sched_wakeup in its context: subscribers and publishers it wakes) and its context
#   switches (its own sleeps). Per delivery, and per round: a round is one send to every
#   subscriber, so rounds = (sends - acknowledgement sends) / subscribers, approximately (an
#   acknowledgement send may carry several answers; counted as one per update here, so rounds are
#   a lower bound; with several topics, a round is one send to each stream that had an event).
# --instructions: callgrind (user space only, stable from run to run), one worker, S subscribers
#   of one topic and U or 3U updates, for S = 1 and S = PROFILE_SUBS (1,000); the difference
#   between the U and 3U runs removes start-up, connects and shutdown. Per publish: the S = 1
#   difference / 2U (one delivery included). Per delivery, everything included (the publish's
#   share, the fan-out, the user-space side of the sends): the S difference / (2U x S). (The
#   extra of S over 1 per further delivery is not a figure any more: with runs, how many events a
#   send carries, and so the per-round costs, change with S.) PROFILE_UPDATES (U, 300).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/need.sh
do_fanout=0 do_instr=0
bins=()
for a in "$@"; do
    case $a in
    --fanout) do_fanout=1 ;;
    --instructions) do_instr=1 ;;
    *) bins+=("$a") ;;
    esac
done
[ $do_fanout = 1 ] || [ $do_instr = 1 ] || do_fanout=1 do_instr=1
[ ${#bins[@]} -gt 0 ] || bins=(build/ssebroker)
updates=${PROFILE_UPDATES:-300}
subs=${PROFILE_SUBS:-1000}
topics=${PROFILE_TOPICS:-1}
fan_updates=${PROFILE_FANOUT_UPDATES:-2000}
repeat=${PROFILE_REPEAT:-3}
loadgen=${LOADGEN_BIN:-build/loadgen}
bound=${BOUND_BIN:-build/bound}
key='!ChangeThisMercureHubJWTSecretKey!'
port=18190
out=${BENCH_OUT:-bench/out/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
log() { echo "[profile $(date +%H:%M:%S)] $*" >&2; }
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || ulimit -n "$nofile"

# start_server BIN|bound [workers]: sets pid and mode
start_server() {
    local bin=$1 workers=${2:-$(nproc)} wrap=${3:-}
    if [ "$bin" = bound ]; then
        $wrap "$bound" --port "$port" --workers "$workers" >"$out/server.log" 2>&1 &
        mode=node
    else
        $wrap "$bin" --listen "127.0.0.1:$port" --workers "$workers" --jwt-key "$key" \
            >"$out/server.log" 2>&1 &
        mode=mercure
    fi
    pid=$!
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "server did not start: $out/server.log"
    exit 1
}
stop_server() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# ---- fan-out: system calls, sends, wake-ups --------------------------------------------------

syscalls="io_uring_enter epoll_wait epoll_pwait read write sendmsg sendto recvfrom writev readv
futex accept4 close epoll_ctl"
events=""
for s in $syscalls; do events="$events,syscalls:sys_enter_$s"; done
events="${events#,},sock:sock_send_length,sched:sched_wakeup,context-switches"

# fanout_run NAME BIN|bound N: one run; appends a JSON line to $out/fanout.jsonl
fanout_run() {
    local name=$1 bin=$2 n=$3 f="$out/fanout.$1.$3"
    start_server "$bin"
    "$loadgen" --target "$mode" --port "$port" --pid "$pid" --jwt-key "$key" --subs "$subs" \
        --topics "$topics" --updates "$fan_updates" --pub-conns 8 --warmup-ms 2000 --pause-ms 2500 \
        --drain-ms 20000 --timeout 300 --quiet >"$f.loadgen" 2>"$f.stderr" &
    local lg=$!
    for _ in $(seq 600); do
        grep -q 'publishing in' "$f.stderr" 2>/dev/null && break
        kill -0 "$lg" 2>/dev/null || break
        sleep 0.05
    done
    perf stat -x, -e "$events" -p "$pid" -o "$f.perf" &
    local perfpid=$!
    wait "$lg" || true
    kill -INT "$perfpid"
    wait "$perfpid" || true
    stop_server
    grep -q '"ok":true' "$f.loadgen" || log "$name run $n: loadgen not ok ($f.loadgen)"
    # perf -x, lines: value,unit,event,...
    local counts
    counts=$(awk -F, '$3 != "" { v = $1; if (v ~ /not/) v = 0; sub(/^syscalls:sys_enter_/, "", $3);
        sub(/^sock:/, "", $3); sub(/^sched:/, "", $3); printf "\"%s\":%s,", $3, v }' "$f.perf")
    jq -c --arg name "$name" --argjson load "$(cut -d' ' -f1 /proc/loadavg)" \
        --argjson subs "$subs" "{name: \$name, load: \$load, subs: \$subs, c: {${counts%,}},
         deliveries, updates: .acked, dps: .deliveries_per_s, ack_p50_ms, lat_p99_ms, bytes_read,
         cpu: .server_cpu_publish_s, ok}" <(grep '^{' "$f.loadgen") >>"$out/fanout.jsonl"
}

fanout_table() {
    jq -r -s -f /dev/stdin "$out/fanout.jsonl" <<'JQ'
def r(d): (. * d | round) / d;
def per(x; d): if d > 0 then x / d else 0 end;
def sc: [.c | to_entries[] | select(.key | test("^(sock_send_length|sched_wakeup|context-switches)$") | not) | .value] | add;
(["server", "load", "deliveries/s", "B/delivery", "ack p50 ms", "server CPU µs per delivery",
  "system calls per delivery", "by kind (per 1,000 deliveries)", "deliveries per send",
  "rounds", "events per round", "epoll waits per round", "context switches per round",
  "wake-ups caused per delivery"] | "| " + join(" | ") + " |"),
("|" + ([range(14)] | map("---") | join("|")) + "|"),
(.[] | . as $x
 | ((.c.sock_send_length - .updates) / .subs) as $rounds
 | [.name, (.load | tostring), (.dps | round | tostring),
    (if .bytes_read then per(.bytes_read; .deliveries) | round | tostring else "-" end),
    (.ack_p50_ms | tostring),
    (per(.cpu * 1e6; .deliveries) | r(1000) | tostring),
    (per(sc; .deliveries) | r(10000) | tostring),
    ([.c | to_entries[] | select(.value > 0)
      | select(.key | test("^(sock_send_length|sched_wakeup|context-switches)$") | not)
      | "\(.key) \(per(.value * 1000; $x.deliveries) | r(100))"] | join(", ")),
    (per(.deliveries; .c.sock_send_length) | r(10) | tostring),
    ($rounds | round | tostring),
    (per(.deliveries / .subs; $rounds) | r(10) | tostring),
    (per(.c.epoll_wait + .c.epoll_pwait; $rounds) | r(10) | tostring),
    (per(.c["context-switches"]; $rounds) | r(10) | tostring),
    (per(.c.sched_wakeup; .deliveries) | r(10000) | tostring)]
 | "| " + join(" | ") + " |")
JQ
}

if [ $do_fanout = 1 ]; then
    need_tools perf jq
    : >"$out/fanout.jsonl"
    for n in $(seq "$repeat"); do
        for bin in "${bins[@]}"; do
            log "fan-out $n/$repeat: $bin"
            fanout_run "$(basename "$bin")" "$bin" "$n"
        done
        log "fan-out $n/$repeat: bound"
        fanout_run bound bound "$n"
    done
    {
        echo "### Fan-out: $subs subscribers over $topics topic(s), $fan_updates updates, 8 keep-alive publishers"
        echo
        fanout_table
        echo
    } >>"$out/results.md"
fi

# ---- instructions (callgrind) ----------------------------------------------------------------

# Total instructions of one run: BIN|bound, subscribers, updates.
instructions() {
    local bin=$1 subs=$2 upd=$3 f="$out/callgrind.$(basename "$1").$2.$3"
    start_server "$bin" 1 "valgrind --tool=callgrind --callgrind-out-file=$f"
    "$loadgen" --target "$mode" --port "$port" --jwt-key "$key" --subs "$subs" --updates "$upd" \
        --pub-conns 4 --warmup-ms 0 --drain-ms 20000 --timeout 600 --quiet >"$f.loadgen" 2>&1 ||
        true
    grep -q '"ok":true' "$f.loadgen" || { log "loadgen failed: $f.loadgen"; stop_server; exit 1; }
    stop_server
    awk '/^summary:/ {print $2}' "$f"
}

if [ $do_instr = 1 ]; then
    need_tools valgrind
    {
        echo "### Instructions (callgrind, one worker)"
        echo
        printf '| binary | instructions per publish (1 subscriber) | instructions per delivery, all included (%s subscribers) |\n|---|---|---|\n' "$subs"
    } >>"$out/results.md"
    for bin in "${bins[@]}" bound; do
        log "callgrind: $bin"
        a1=$(instructions "$bin" 1 "$updates")
        b1=$(instructions "$bin" 1 $((3 * updates)))
        aS=$(instructions "$bin" "$subs" "$updates")
        bS=$(instructions "$bin" "$subs" $((3 * updates)))
        per_pub=$(((b1 - a1) / (2 * updates)))
        per_del=$(((bS - aS) / (2 * updates * subs)))
        printf '| %s | %s | %s |\n' "$bin" "$per_pub" "$per_del" >>"$out/results.md"
    done
fi
cat "$out/results.md"
