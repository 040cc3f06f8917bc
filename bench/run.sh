#!/usr/bin/env bash
# Benchmarks ssebroker against nchan (nginx), a Node.js hub and the bound (bench/peers/bound, the
# fastest fan-out server we can write) on this machine, in one run:
# every scenario runs against each target in turn on a freshly started server, the JSON lines
# of bench/loadgen are collected in bench/out/<date>/results.jsonl, and results.md gets a
# table and the ssebroker/peer ratios; sweep.png plots deliveries/s, p99 and deliveries per server
# CPU second against the number of subscribers.
#
# usage: bench/run.sh                 (from anywhere; BENCH_QUICK=1 for a smoke run < 1 min)
#
# Environment (defaults: full run / BENCH_QUICK=1):
#   SSEBROKER_BIN      broker binary (build/ssebroker); SSEBROKER_ARGS extra flags for it
#   BENCH_JWT_KEY      HS256 key given to the broker and used by the load generator
#   BENCH_JWT_CLAIMS   claims of the publisher token (loadgen default {"mercure":{"publish":["*"]}})
#   BENCH_TARGETS      "ssebroker nchan node bound" (bound: bench/peers/bound, the fastest fan-out
#                      server we can write, every server is held to it)
#   BENCH_SCENARIOS    "fanout fixed-rate idle topics topics-fixed template scale sweep sparse"
#                      (topics-fixed: topics at a fixed rate, nchan's maximum in topics of the same
#                      run; scale: ssebroker's fanout with 1 worker and with one per core; sparse:
#                      sparse publishes, fresh and keep-alive, with and without idle keep-alive
#                      connections, bench/sparse.mjs; the old names 1 2 3 4 4r 5 still work)
#   BENCH_PORT_BASE    18080 (ssebroker), +1 nchan, +2 node
#   BENCH_PROCS        loadgen --procs (0: as the open-file limit needs)
#   BENCH_CONNECT_RATE loadgen --connect-rate (5000/s)
#   BENCH_PUB_CONNS    publisher connections for "as fast as possible" scenarios (8), and
#   BENCH_RATE_PUB_CONNS for fixed-rate ones (16: slow acks must not cap the offered rate)
#   BENCH_SETTLE_MS / BENCH_DRAIN_MS / BENCH_TIMEOUT   loadgen timing (1000/200 ms,
#                      10000/3000 ms, 180/30 s)
#   BENCH_WARMUP_MS    loadgen --warmup-ms (5000; 0: measure from the first 200 on)
#   BENCH_S1_SUBS 1000/100        BENCH_S1_UPDATES 2000/300          (fanout: 1 topic, max rate)
#   BENCH_S2_SUBS 10000/500       BENCH_S2_RATES "10 100"/100  BENCH_S2_SECS 5/1   (fixed-rate)
#   BENCH_S3_SUBS 18900/1000      (idle: memory per stream)
#   BENCH_S4_SUBS 10000/1000      BENCH_S4_TOPICS 1000/100  BENCH_S4_UPDATES 20000/1000  (topics)
#   BENCH_S4_RATE      topics-fixed's rate when nchan did not run topics (5000/s)
#   BENCH_S4R_SECS 4/1
#   BENCH_S5_SUBS 10000/500       BENCH_S5_TOPICS 1  BENCH_S5_RATE 10/100  BENCH_S5_SECS 5/1
#   BENCH_SPARSE_STREAMS 500/200  BENCH_SPARSE_UPDATES 400/80  BENCH_SPARSE_IDLE 1  (sparse)
#   BENCH_SPARSE_ALTERNATE 4      (sparse: phases without and with the idle connections, in turn)
#   BENCH_SWEEP_SUBS "100 1000 5000 10000 19000"/"100 1000"  BENCH_SWEEP_DELIVERIES 1000000/50000
#   BENCH_OUT          output directory (bench/out/<date>)
#   LOADGEN_BIN        use this load generator instead of compiling bench/loadgen/
set -euo pipefail

cd "$(dirname "$0")/.."
quick=${BENCH_QUICK:-0}
q() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }

ssebroker_bin=${SSEBROKER_BIN:-build/ssebroker}
ssebroker_args=${SSEBROKER_ARGS:-}
jwt_key=${BENCH_JWT_KEY:-'!ChangeThisMercureHubJWTSecretKey!'}
jwt_args=()
[ -z "${BENCH_JWT_CLAIMS:-}" ] || jwt_args=(--jwt-claims "$BENCH_JWT_CLAIMS")
targets=${BENCH_TARGETS:-"ssebroker nchan node bound"}
scenarios=${BENCH_SCENARIOS:-"fanout fixed-rate idle topics topics-fixed template scale sweep sparse"}
port_base=${BENCH_PORT_BASE:-18080}
procs=${BENCH_PROCS:-0}
connect_rate=${BENCH_CONNECT_RATE:-5000}
pub_conns=${BENCH_PUB_CONNS:-8}
rate_pub_conns=${BENCH_RATE_PUB_CONNS:-16}
settle_ms=${BENCH_SETTLE_MS:-$(q 1000 200)}
warmup_ms=${BENCH_WARMUP_MS:-5000}
drain_ms=${BENCH_DRAIN_MS:-$(q 10000 3000)}
timeout_s=${BENCH_TIMEOUT:-$(q 180 30)}

s1_subs=${BENCH_S1_SUBS:-$(q 1000 100)}
s1_updates=${BENCH_S1_UPDATES:-$(q 2000 300)}
s2_subs=${BENCH_S2_SUBS:-$(q 10000 500)}
s2_rates=${BENCH_S2_RATES:-$(q "10 100" 100)}
s2_secs=${BENCH_S2_SECS:-$(q 5 1)}
s3_subs=${BENCH_S3_SUBS:-$(q 18900 1000)}
s4_subs=${BENCH_S4_SUBS:-$(q 10000 1000)}
s4_topics=${BENCH_S4_TOPICS:-$(q 1000 100)}
s4_updates=${BENCH_S4_UPDATES:-$(q 20000 1000)}
s4_rate=${BENCH_S4_RATE:-5000}
s4r_secs=${BENCH_S4R_SECS:-$(q 4 1)}
s5_subs=${BENCH_S5_SUBS:-$(q 10000 500)}
s5_topics=${BENCH_S5_TOPICS:-1}
s5_rate=${BENCH_S5_RATE:-$(q 10 100)}
s5_secs=${BENCH_S5_SECS:-$(q 5 1)}
sweep_subs=${BENCH_SWEEP_SUBS:-$(q "100 1000 5000 10000 19000" "100 1000")}
sweep_deliveries=${BENCH_SWEEP_DELIVERIES:-$(q 1000000 50000)}
sparse_streams=${BENCH_SPARSE_STREAMS:-$(q 500 200)}
sparse_updates=${BENCH_SPARSE_UPDATES:-$(q 400 80)}
sparse_idle=${BENCH_SPARSE_IDLE:-1}
sparse_alternate=${BENCH_SPARSE_ALTERNATE:-4}
# The scenarios' names, with the numbers they once had.
canon() {
    case $1 in
    1) echo fanout ;; 2) echo fixed-rate ;; 3) echo idle ;; 4) echo topics ;;
    4r) echo topics-fixed ;; 5) echo template ;; *) echo "$1" ;;
    esac
}
scenarios=$(for sc in $scenarios; do canon "$sc"; done | tr '\n' ' ')

out=${BENCH_OUT:-bench/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs"
results=$out/results.jsonl
: >"$results"
if [ "$(dirname "$out")" = bench/out ]; then ln -sfn "$(basename "$out")" bench/out/latest; fi

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

need_pkg() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    log "installing $2"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$2" >&2 ||
        { $sudo apt-get update >&2 &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$2" >&2; }
}
need_pkg jq jq
need_pkg gcc gcc
case " $scenarios " in *" sparse "*) need_pkg perf linux-perf ;; esac

# ---------------------------------------------------------------------------------------------
# Load generator

loadgen_stale() { # binary: true when absent or older than any bench/loadgen source
    [ ! -x "$1" ] || [ -n "$(find bench/loadgen -newer "$1" -name '*.[ch]' | head -1)" ]
}
loadgen=${LOADGEN_BIN:-}
if [ -z "$loadgen" ]; then
    loadgen=build/loadgen # built by the main CMake build; compiled here when stale or absent
    if loadgen_stale "$loadgen"; then
        loadgen=bench/out/loadgen
    fi
    if loadgen_stale "$loadgen"; then
        gcc -O2 -Wall -Wextra -D_GNU_SOURCE -std=c11 -o "$loadgen" bench/loadgen/*.c -lcrypto \
            -lpthread -lm
    fi
fi
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || ulimit -n "$nofile"

# ---------------------------------------------------------------------------------------------
# Targets

active=""
snapshot=$out/ssebroker.bin # other builds may replace the binary during the run
for t in $targets; do
    case $t in
    ssebroker)
        if [ -x "$ssebroker_bin" ] && cp "$ssebroker_bin" "$snapshot"; then
            active="$active $t"
        else
            log "skipping ssebroker: $ssebroker_bin not found (set SSEBROKER_BIN)"
        fi
        ;;
    nchan)
        if bench/peers/nchan/start.sh --install-only; then active="$active $t"; else
            log "skipping nchan: nginx/nchan not available"
        fi
        ;;
    node)
        if bench/peers/node/start.sh --install-only; then active="$active $t"; else
            log "skipping node: node/npm not available"
        fi
        ;;
    bound)
        # The leanest fan-out server of bench/peers/bound/: the bound every server is held to.
        bound_bin=build/bound
        if [ ! -x "$bound_bin" ] || [ bench/peers/bound/bound.c -nt "$bound_bin" ]; then
            bound_bin=bench/out/bound
            uring=()
            if pkg-config --exists liburing 2>/dev/null; then uring=(-DBOUND_URING=1 -luring); fi
            gcc -O2 -Wall -Wextra -D_GNU_SOURCE -std=c11 -o "$bound_bin" bench/peers/bound/bound.c \
                -lpthread "${uring[@]}"
        fi
        active="$active $t"
        ;;
    *) log "unknown target $t"; exit 2 ;;
    esac
done
[ -n "$active" ] || { log "no target to benchmark"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# GET /healthz answered 200 (by a worker, for nginx)
# shellcheck disable=SC2016 # the inner script gets the port as $1
http_ok() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
        IFS= read -r line <&3 && [[ $line == *" 200"* ]]' _ "$1" 2>/dev/null
}

server_pid=""
server_port=""
case_args="" # extra ssebroker flags of one case (the worker-scaling scenario)
server_log=""
nchan_prefix=""

start_server() { # name logfile
    local name=$1 slog=$2
    server_log=$slog
    local port=$port_base
    [ "$name" != nchan ] || port=$((port_base + 1))
    [ "$name" != node ] || port=$((port_base + 2))
    [ "$name" != bound ] || port=$((port_base + 3))
    if port_open "$port"; then
        log "port $port is already in use: cannot start $name"
        return 1
    fi
    case $name in
    ssebroker)
        server_port=$port_base
        # shellcheck disable=SC2086 # SSEBROKER_ARGS is a list of flags
        "$snapshot" --listen "127.0.0.1:$server_port" --jwt-key "$jwt_key" $ssebroker_args $case_args \
            >"$slog" 2>&1 &
        ;;
    nchan)
        server_port=$((port_base + 1))
        nchan_prefix=$(mktemp -d /tmp/nchan-bench.XXXXXX)
        bench/peers/nchan/start.sh --port "$server_port" --prefix "$nchan_prefix" >"$slog" 2>&1 &
        ;;
    node)
        server_port=$((port_base + 2))
        bench/peers/node/start.sh --port "$server_port" >"$slog" 2>&1 &
        ;;
    bound)
        server_port=$((port_base + 3))
        "$bound_bin" --port "$server_port" >"$slog" 2>&1 &
        ;;
    esac
    server_pid=$!
    local workers=1
    [ "$name" != nchan ] || workers=$(nproc)
    for _ in $(seq 200); do
        # ready: answers /healthz, and for nginx every worker has been forked
        local children
        children=$(pgrep -c -P "$server_pid" 2>/dev/null) || children=0
        if port_open "$server_port" && http_ok "$server_port" &&
            [ "$children" -ge $((workers > 1 ? workers : 0)) ]; then
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    log "$name did not start, see $slog"
    stop_server
    return 1
}

stop_server() {
    [ -n "$server_pid" ] || return 0
    if [ -n "$nchan_prefix" ]; then # kill and remove at once, keeping nginx's error log
        cat "$nchan_prefix/error.log" >>"$server_log" 2>/dev/null || true
        bench/peers/nchan/stop.sh "$nchan_prefix" --fast || true
        nchan_prefix=""
    fi
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# run_case TARGET LABEL LOADGEN-ARGS...: fresh server, one load generator run, one JSON line
run_case() {
    local name=$1 label=$2
    shift 2
    local mode=mercure
    [ "$name" = nchan ] && mode=nchan
    [ "$name" = node ] && mode=node
    [ "$name" = bound ] && mode=node # the Node peer's API, no token
    local llog="$out/logs/$label-$name.log"
    if ! start_server "$name" "$out/logs/$label-$name.server.log"; then
        echo "{\"label\":\"$label\",\"server\":\"$name\",\"ok\":false,\"error\":\"server did not start\"}" \
            >>"$results"
        return 0
    fi
    case_no=$((case_no + 1))
    log "[$case_no/$total_cases, $(($(date +%s) - started)) s] $label $name: loadgen $*"
    "$loadgen" --target "$mode" --name "$name" --label "$label" --port "$server_port" \
        --pid "$server_pid" --procs "$procs" --connect-rate "$connect_rate" --jwt-key "$jwt_key" \
        "${jwt_args[@]}" \
        --settle-ms "$settle_ms" --warmup-ms "$warmup_ms" --drain-ms "$drain_ms" \
        --timeout "$timeout_s" "$@" \
        >"$llog" 2>&1 || true
    stop_server
    if grep -q '^{' "$llog"; then
        grep '^{' "$llog" | tail -n 1 >>"$results"
        grep -E '^  (deliver|latency|server|result)' "$llog" | sed 's/^/    /' >&2 || true
    else
        log "$label $name: no result, see $llog"
        echo "{\"label\":\"$label\",\"server\":\"$name\",\"ok\":false,\"error\":\"no result\"}" \
            >>"$results"
    fi
}

# run_sparse TARGET fresh|keepalive: fresh server, one bench/sparse.mjs run that alternates phases
# without and with the idle connections, two JSON lines (sparse-HOW and sparse-HOW-idle)
run_sparse() {
    local name=$1 how=$2 mode=mercure
    [ "$name" = bound ] && mode=node
    local label="sparse-$how"
    local llog="$out/logs/$label-$name.log"
    if ! start_server "$name" "$out/logs/$label-$name.server.log"; then
        echo "{\"label\":\"$label\",\"server\":\"$name\",\"ok\":false,\"error\":\"server did not start\"}" \
            >>"$results"
        return 0
    fi
    case_no=$((case_no + 1))
    log "[$case_no/$total_cases, $(($(date +%s) - started)) s] $label $name"
    node bench/sparse.mjs --port "$server_port" --pid "$server_pid" --target "$mode" --name "$name" \
        --label "$label" --streams "$sparse_streams" --updates "$sparse_updates" --publish "$how" \
        --idle "$sparse_idle" --alternate "$sparse_alternate" --jwt-key "$jwt_key" >"$llog" 2>&1 || true
    stop_server
    if grep -q '^{' "$llog"; then
        grep '^{' "$llog" >>"$results"
    else
        log "$label $name: no result, see $llog"
        echo "{\"label\":\"$label\",\"server\":\"$name\",\"ok\":false,\"error\":\"no result\"}" \
            >>"$results"
    fi
}

# ---------------------------------------------------------------------------------------------
# Scenarios: each one runs against every target before the next scenario starts

# How many runs the scenarios make with these targets, for the progress lines.
count_cases() {
    local n=0 nt sc t
    nt=$(wc -w <<<"$active")
    for sc in $scenarios; do
        case $sc in
        fanout | idle | topics | topics-fixed) n=$((n + nt)) ;;
        fixed-rate) n=$((n + nt * $(wc -w <<<"$s2_rates"))) ;;
        template) for t in $active; do [ "$t" = nchan ] || n=$((n + 1)); done ;;
        sparse) for t in $active; do case $t in ssebroker | bound) n=$((n + 2)) ;; esac; done ;;
        scale) case "$active" in *ssebroker*) n=$((n + 2)) ;; esac ;;
        sweep) n=$((n + nt * $(wc -w <<<"$sweep_subs"))) ;;
        esac
    done
    echo "$n"
}
total_cases=$(count_cases)
case_no=0
started=$(date +%s)
log "targets:$active; scenarios: $scenarios; $total_cases runs; output $out"
for sc in $scenarios; do
    case $sc in
    fanout)
        for t in $active; do
            run_case "$t" fanout-1topic --subs "$s1_subs" --updates "$s1_updates" \
                --pub-conns "$pub_conns"
        done
        ;;
    fixed-rate)
        for r in $s2_rates; do
            for t in $active; do
                run_case "$t" "fixed-${r}hz" --subs "$s2_subs" --rate "$r" --updates $((r * s2_secs)) \
                    --pub-conns "$rate_pub_conns"
            done
        done
        ;;
    idle)
        for t in $active; do
            run_case "$t" idle-streams --subs "$s3_subs" --updates 10 --rate 10 \
                --settle-ms $((settle_ms * 2)) --pub-conns "$rate_pub_conns"
        done
        ;;
    topics)
        for t in $active; do
            run_case "$t" fanout-topics --subs "$s4_subs" --topics "$s4_topics" --updates "$s4_updates" \
                --pub-conns "$pub_conns"
        done
        ;;
    topics-fixed)
        # fanout-topics at a fixed rate: nchan's maximum in fanout-topics of this run, so latency
        # is compared where every server keeps up.
        r=$(jq -r 'select(.label == "fanout-topics" and .server == "nchan" and .ok) | .pub_rate | floor' \
            "$results" | tail -n 1)
        [ -n "$r" ] && [ "$r" -gt 0 ] 2>/dev/null || r=$s4_rate
        log "topics-at-nchan-max: $r updates/s"
        for t in $active; do
            run_case "$t" topics-at-nchan-max --subs "$s4_subs" --topics "$s4_topics" --rate "$r" \
                --updates $((r * s4r_secs)) --pub-conns "$rate_pub_conns"
        done
        ;;
    template)
        for t in $active; do
            if [ "$t" = nchan ]; then
                log "template $t: skipped (no URI-template subscriptions)"
                continue
            fi
            run_case "$t" template --subs "$s5_subs" --topics "$s5_topics" --template \
                --rate "$s5_rate" --updates $((s5_rate * s5_secs)) --pub-conns "$rate_pub_conns"
        done
        ;;
    scale)
        # ssebroker alone, fanout with 1 worker then with one per core
        case "$active" in *ssebroker*) ;; *) continue ;; esac
        for w in 1 "$(nproc)"; do
            case_args="--workers $w"
            run_case ssebroker "workers-$w" --subs "$s1_subs" --updates "$s1_updates" \
                --pub-conns "$pub_conns"
            case_args=""
        done
        ;;
    sweep)
        for n in $sweep_subs; do
            u=$((sweep_deliveries / n))
            [ "$u" -ge 20 ] || u=20
            for t in $active; do
                run_case "$t" "sweep-$n" --subs "$n" --updates "$u" --pub-conns "$pub_conns"
            done
        done
        ;;
    sparse)
        # Sparse publishes on fresh and on keep-alive connections, with and without idle
        # keep-alive connections open: system calls and CPU per delivery (bench/sparse.mjs).
        for t in $active; do
            case $t in ssebroker | bound) ;; *) continue ;; esac
            for how in fresh keepalive; do
                run_sparse "$t" "$how"
            done
        done
        ;;
    *) log "unknown scenario $sc" ;;
    esac
done
elapsed=$(($(date +%s) - started))

# ---------------------------------------------------------------------------------------------
# Report: markdown table, ratios, plot

md=$out/results.md
{
    echo "# ssebroker benchmark — $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"
    echo "- targets:$active — nginx $(nginx -v 2>&1 | sed 's|.*/||') + nchan" \
        "$(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')," \
        "node $(node -v 2>/dev/null || echo '?') + express"
    echo "- run: \`$(env | grep -E '^(BENCH_|SSEBROKER_)' | sort | tr '\n' ' ')bench/run.sh\`, ${elapsed} s;" \
        "load generator and servers share the machine"
    echo
    echo "## All runs"
    echo
    jq -r -s -f /dev/stdin "$results" <<'JQ'
def n2: if . == null then "-" else ((. * 100 | round) / 100 | tostring) end;
def n0: if . == null then "-" else (round | tostring) end;
def s: if . == null then "-" else tostring end;
def n3: if . == null then "-" else ((. * 1000 | round) / 1000 | tostring) end;
def per_cpu: if (.server_cpu_publish_s // 0) > 0 then .deliveries / .server_cpu_publish_s else null end;
def per_delivery: if (.deliveries // 0) > 0 and .bytes_read != null then .bytes_read / .deliveries else null end;
(["scenario", "server", "subs", "topics", "rate/s", "pub/s", "ack p50 ms", "updates",
  "deliveries/s", "B/delivery", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "lost", "dup", "reord", "B/stream",
  "CPU s", "deliveries per CPU s", "ok"]
 | "| " + join(" | ") + " |"),
("|" + ([range(21)] | map("---") | join("|")) + "|"),
(.[] | [.label, .server, (.subs | s),
        ((.topics | s) + (if .template then " (tmpl)" else "" end)),
        (if .rate == null then "-" elif .rate > 0 then (.rate | n0) else "max" end),
        (.pub_rate | n0), (.ack_p50_ms | n3), (.updates | s), (.deliveries_per_s | n0),
        (per_delivery | n0), (.lat_p50_ms | n2), (.lat_p99_ms | n2),
        (.lat_p999_ms | n2), (.lat_max_ms | n2), (.lost | s), (.dups | s), (.reordered | s),
        (.mem_per_stream_b | n0), (.server_cpu_publish_s | n2), (per_cpu | n0),
        (if .ok then "yes" else "NO: " + (.error // "") end)]
 | "| " + join(" | ") + " |")
JQ
    echo
    echo "rate/s: offered publish rate (max: as fast as the in-flight window allows); pub/s:"
    echo "acknowledged publishes per second. CPU s: server CPU time (user+sys, all its processes)"
    echo "from the first publish to the end of the drain. B/stream: server PSS growth while the"
    echo "streams connected, per stream (user-space memory only, not kernel socket buffers)."
    echo "B/delivery: bytes the load generator read per delivery (the stream heads included), what"
    echo "the kernel and every subscriber carry for one event."
    echo
    echo "## ssebroker ÷ peer"
    echo
    echo "deliveries/s: higher is better for ssebroker; p99, B/stream and CPU s per million"
    echo "deliveries: lower is better."
    echo
    jq -r -s -f /dev/stdin "$results" <<'JQ'
def ratio(a; b): if (a == null or b == null or b == 0) then "-"
                 else ((a / b * 100 | round) / 100 | tostring) end;
def cpu_per_m: if (.deliveries // 0) > 0 then .server_cpu_publish_s / .deliveries * 1e6
               else null end;
(["scenario", "peer", "deliveries/s", "p99", "B/stream", "CPU per delivery"]
 | "| " + join(" | ") + " |"),
"|---|---|---|---|---|---|",
(group_by(.label)[] as $g
 | ($g | map(select(.server == "ssebroker" and .ok != null)) | first) as $s
 | select($s != null)
 | $g[] | select(.server != "ssebroker") as $p
 | [$p.label, $p.server,
    ratio($s.deliveries_per_s; $p.deliveries_per_s),
    ratio($s.lat_p99_ms; $p.lat_p99_ms),
    ratio($s.mem_per_stream_b; $p.mem_per_stream_b),
    ratio($s | cpu_per_m; $p | cpu_per_m)]
 | "| " + join(" | ") + " |")
JQ
    echo
    if jq -e -s 'any(.label | startswith("sparse-"))' "$results" >/dev/null; then
        echo "## Sparse fan-outs: with and without idle keep-alive connections"
        echo
        echo "$sparse_streams streams of one topic, $sparse_updates publishes one at a time (fresh: each on a new"
        echo "connection; keep-alive: all on one), on one server in $((2 * sparse_alternate)) phases: without and with"
        echo "$sparse_idle idle keep-alive connection(s) open, in turn. System calls: perf stat tracepoints on the"
        echo "server's threads while publishing and delivering; CPU: its threads' run time (schedstat)."
        echo "idle ÷ none: the same server, the same way of publishing, phases interleaved."
        echo
        jq -r -s -f /dev/stdin "$results" <<'JQ'
def r(d): if . == null then "-" else ((. * d | round) / d | tostring) end;
def base: sub("-idle$"; "");
(["scenario", "server", "load", "system calls per delivery", "by kind, per 1,000 deliveries",
  "CPU µs per delivery", "idle ÷ none: system calls", "idle ÷ none: CPU", "ok"]
 | "| " + join(" | ") + " |"),
"|---|---|---|---|---|---|---|---|---|",
(. as $all | .[] | select(.label | startswith("sparse-")) | . as $x
 | ($all | map(select(.server == $x.server and .label == ($x.label | base))) | first) as $none
 | [.label, .server, (.load | r(100)), (.syscalls_per_delivery | r(10000)),
    ([(.syscalls // {}) | to_entries[] | "\(.key) \(.value * 1000 / $x.deliveries | r(10))"] | join(", ")),
    (.cpu_us_per_delivery | r(1000)),
    (if $x.label == ($x.label | base) or $none == null then "-"
     else ($x.syscalls_per_delivery / $none.syscalls_per_delivery | r(100)) end),
    (if $x.label == ($x.label | base) or $none == null then "-"
     else ($x.cpu_us_per_delivery / $none.cpu_us_per_delivery | r(100)) end),
    (if .ok then "yes" else "NO" end)]
 | "| " + join(" | ") + " |")
JQ
        echo
    fi
    echo "## Against the goals"
    echo
    jq -r -s -f /dev/stdin "$results" <<'JQ'
def get(l; srv): map(select(.label == l and .server == srv and .ok)) | first;
def r2: (. * 100 | round) / 100;
def row(name; v; goal; met): "| " + name + " | " + (if v == null then "-" else (v | r2 | tostring) end)
  + " | " + goal + " | " + (if v == null then "not measured" elif (v | met) then "yes" else "no" end) + " |";
def q(a; b): if a == null or b == null or b == 0 then null else a / b end;
get("fanout-1topic"; "ssebroker") as $s1 | get("fanout-1topic"; "nchan") as $n1 | get("fanout-1topic"; "bound") as $b1
| get("fanout-topics"; "ssebroker") as $s4 | get("fanout-topics"; "nchan") as $n4 | get("fanout-topics"; "bound") as $b4
| get("topics-at-nchan-max"; "ssebroker") as $f4 | get("topics-at-nchan-max"; "nchan") as $nf4
| get("idle-streams"; "ssebroker") as $s3
| [get("sparse-fresh"; "ssebroker"), get("sparse-fresh-idle"; "ssebroker"),
   get("sparse-keepalive"; "ssebroker"), get("sparse-keepalive-idle"; "ssebroker")] as [$sf, $sfi, $sk, $ski]
| "| goal | measured | target | met |", "|---|---|---|---|",
  row("fanout-1topic: deliveries/s ÷ the bound's"; q($s1.deliveries_per_s; $b1.deliveries_per_s); ">= 0.8"; . >= 0.8),
  row("fanout-1topic: deliveries/s ÷ nchan's"; q($s1.deliveries_per_s; $n1.deliveries_per_s); ">= 10"; . >= 10),
  row("fanout-1topic: publish ack p50 ms"; $s1.ack_p50_ms; "< 0.1"; . < 0.1),
  row("fanout-topics: deliveries/s ÷ the bound's"; q($s4.deliveries_per_s; $b4.deliveries_per_s); ">= 1.0"; . >= 1.0),
  row("fanout-topics: deliveries/s ÷ nchan's"; q($s4.deliveries_per_s; $n4.deliveries_per_s); ">= 4"; . >= 4),
  row("topics-at-nchan-max: p99 ÷ nchan's"; q($f4.lat_p99_ms; $nf4.lat_p99_ms); "<= 1"; . <= 1),
  row("idle-streams: bytes per idle stream"; $s3.mem_per_stream_b; "<= 256"; . <= 256),
  row("sparse-fresh: CPU per delivery, idle connection ÷ none"; q($sfi.cpu_us_per_delivery; $sf.cpu_us_per_delivery); "<= 1.1"; . <= 1.1),
  row("sparse-fresh: system calls per delivery, idle connection ÷ none"; q($sfi.syscalls_per_delivery; $sf.syscalls_per_delivery); "<= 1.1"; . <= 1.1),
  row("sparse-keepalive: CPU per delivery, idle connection ÷ none"; q($ski.cpu_us_per_delivery; $sk.cpu_us_per_delivery); "<= 1.1"; . <= 1.1),
  row("sparse-keepalive: system calls per delivery, idle connection ÷ none"; q($ski.syscalls_per_delivery; $sk.syscalls_per_delivery); "<= 1.1"; . <= 1.1)
JQ
} >"$md"

plot_servers=""
for t in $active; do
    jq -r --arg s "$t" \
        'select(.server == $s and (.label | startswith("sweep-")) and .subs != null)
         | "\(.subs) \(.deliveries_per_s) \(.lat_p99_ms) \(if (.server_cpu_publish_s // 0) > 0
              then .deliveries / .server_cpu_publish_s else "NaN" end)"' "$results" | sort -n \
        >"$out/sweep-$t.dat"
    [ -s "$out/sweep-$t.dat" ] && plot_servers="$plot_servers $t"
done
if [ -n "$plot_servers" ]; then
    need_pkg gnuplot gnuplot-nox
    if gnuplot -e "outdir='$out'; servers='${plot_servers# }'" bench/plot.gp 2>"$out/logs/gnuplot.log"; then
        printf '\n## Sweep\n\n![deliveries/s, p99 and deliveries per server CPU second vs subscribers](sweep.png)\n' >>"$md"
    else
        log "gnuplot failed, see $out/logs/gnuplot.log"
    fi
fi

cat "$md"
log "done in ${elapsed} s: $md"
if jq -e -s 'all(.ok)' "$results" >/dev/null; then exit 0; fi
log "some runs reported problems (see the ok column and $out/logs)"
exit 1
