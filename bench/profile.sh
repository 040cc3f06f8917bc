#!/usr/bin/env bash
# Instruction counts per publish and per delivery (callgrind: user space only, the same on a
# noisy machine from run to run), for one broker binary or two (before / after a change).
#
#   bench/profile.sh [BIN [BIN...]]      (default build/ssebroker; writes bench/out/profile-<date>/)
#
# For each binary, four runs under callgrind with one worker: S subscribers on one topic and U or
# 3U updates, for S = 1 and S = 100. The difference between the U and 3U runs removes start-up,
# connects and shutdown; per publish is the S = 1 difference / 2U (one delivery included), per
# delivery the extra of S = 100 over S = 1, / (2U x 99). Environment: PROFILE_UPDATES (U, 500).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/need.sh
need_tools valgrind
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(build/ssebroker)
updates=${PROFILE_UPDATES:-500}
loadgen=${LOADGEN_BIN:-build/loadgen}
key='!ChangeThisMercureHubJWTSecretKey!'
port=18190
out=${BENCH_OUT:-bench/out/profile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
log() { echo "[profile $(date +%H:%M:%S)] $*" >&2; }

# Total instructions of one run: BIN, subscribers, updates.
instructions() {
    local bin=$1 subs=$2 upd=$3 f="$out/callgrind.$(basename "$1").$2.$3"
    valgrind --tool=callgrind --callgrind-out-file="$f" "$bin" --listen "127.0.0.1:$port" \
        --workers 1 --jwt-key "$key" 2>"$f.log" &
    local pid=$!
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    "$loadgen" --port "$port" --jwt-key "$key" --subs "$subs" --updates "$upd" --pub-conns 4 \
        --warmup-ms 0 --drain-ms 20000 --timeout 600 --quiet >"$f.loadgen" 2>&1 || true
    grep -q '"ok":true' "$f.loadgen" || { log "loadgen failed: $f.loadgen"; kill "$pid"; exit 1; }
    kill -TERM "$pid"
    wait "$pid" || true
    awk '/^summary:/ {print $2}' "$f"
}

printf '| binary | instructions per publish (1 delivery) | instructions per further delivery |\n|---|---|---|\n' \
    >"$out/results.md"
for bin in "${bins[@]}"; do
    log "$bin"
    a1=$(instructions "$bin" 1 "$updates")
    b1=$(instructions "$bin" 1 $((3 * updates)))
    a100=$(instructions "$bin" 100 "$updates")
    b100=$(instructions "$bin" 100 $((3 * updates)))
    per_pub=$(((b1 - a1) / (2 * updates)))
    per_del=$((((b100 - a100) - (b1 - a1)) / (2 * updates * 99)))
    printf '| %s | %s | %s |\n' "$bin" "$per_pub" "$per_del" >>"$out/results.md"
done
cat "$out/results.md"
