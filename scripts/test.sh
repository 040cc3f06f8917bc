#!/usr/bin/env bash
# Installs what is needed, builds every flavour and runs every test:
#   the layering check (includes point down, no cycle) and the formatting check,
#   unit tests (Criterion) in release, ASan+UBSan and TSan builds,
#   integration tests (real binary, real clients) against the ASan, TSan and release binaries,
#   the container image and the compose services under podman (tests/container/),
#   bounded soak runs (release, ASan, TSan), short fuzz runs of every libFuzzer target.
# Prints one summary line "N passed, N failed" (test groups) and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --container || { echo "setup failed"; exit 1; }

passed=0
failed=0
failures=()
group() { # group NAME COMMAND...
    local name="$1"
    shift
    echo
    echo "=== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

integration() { # integration BINARY [test files...]
    local bin="$1"
    shift
    # Each suite has its own timeouts; --test-timeout bounds one file (the runner counts a file as
    # one test: the durable suite takes minutes under TSan), timeout the whole group.
    (cd tests/integration && SSEBROKER_BIN="$PWD/../../$bin" timeout 1200 node --test --test-concurrency=1 --test-timeout=600000 "${@:-.}")
}

integration_sendmsg() { # integration without io_uring: the fallback write path
    (export SSEBROKER_IO_URING=off; integration "$@")
}

integration_log() { # integration with --history-dir on every broker (tests/integration/lib/broker.mjs)
    (export SSEB_TEST_LOG=1; integration "$@")
}

soak() { # soak BINARY [soak.mjs options]: bounded churn under load, see tests/soak/soak.mjs
    local bin="$1"
    shift
    (ulimit -n "$(ulimit -Hn)" 2>/dev/null; SSEBROKER_BIN="$bin" timeout 600 node tests/soak/soak.mjs "$@")
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
# A group that runs beside the sequential ones: it shares nothing with them (its own processes,
# free ports, temporary directories, containers), and most of its time is spent waiting (image
# builds fetching packages, failovers), so running it alongside saves minutes of wall time. Its
# output is kept and printed whole when it is collected, so the log stays readable.
bg_pids=()
bg_names=()
bg_logs=()
background_group() { # background_group NAME COMMAND...
    local name="$1"
    shift
    local log
    log=$(mktemp)
    (
        start=$SECONDS
        "$@"
        rc=$?
        echo "$((SECONDS - start))" >"$log.seconds"
        exit $rc
    ) >"$log" 2>&1 &
    bg_pids+=($!)
    bg_names+=("$name")
    bg_logs+=("$log")
    echo
    echo "=== $name: started beside the groups that follow"
}
# Interrupted (CI's time limit, ^C): the groups running beside stop too.
trap '[ ${#bg_pids[@]} -eq 0 ] || kill "${bg_pids[@]}" 2>/dev/null' INT TERM
collect_background_groups() {
    for i in "${!bg_pids[@]}"; do
        local rc=0 name="${bg_names[$i]}" log="${bg_logs[$i]}"
        wait "${bg_pids[$i]}" || rc=$?
        echo
        echo "=== $name"
        cat "$log"
        local took
        took=$(cat "$log.seconds" 2>/dev/null || echo "?")
        rm -f "$log" "$log.seconds"
        if [ "$rc" -eq 0 ]; then
            passed=$((passed + 1))
            echo "=== $name: ok ($took s, beside the others)"
        else
            failed=$((failed + 1))
            failures+=("$name")
            echo "=== $name: FAILED ($took s, beside the others)"
        fi
    done
}

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1"

group "layers (include graph of src/)" bash -c 'node scripts/check-layers.mjs && node --test tests/tools/'
group "format (clang-format)" bash -c 'clang-format --dry-run --Werror src/*.c src/*/*.[ch] include/ssebroker/*.h tests/unit/*.c tests/unit/*/*.c tests/unit/*/*.h tests/fuzz/*.c tests/stress/*.c tests/urlpattern/*.c bench/loadgen/*.[ch] bench/peers/bound/*.c'
group "build release" bash scripts/build.sh release
group "unit tests (release)" ctest --test-dir build --output-on-failure
group "URL Pattern differential (core/urlpattern vs urlpattern-polyfill and Chromium)" bash -c \
    'cd tests/urlpattern && URLPATTERN_CLI="$PWD/../../build/urlpattern_cli" timeout 300 node --test differential.test.mjs'
group "build asan" bash scripts/build.sh asan
group "unit tests (ASan+UBSan)" ctest --test-dir build-asan --output-on-failure
group "integration (ASan+UBSan binary)" integration build-asan/ssebroker
group "build tsan" bash scripts/build.sh tsan
group "stress tests (TSan)" ctest --test-dir build-tsan --output-on-failure -R '^stress_'
background_group "container image and compose services (podman, tests/container/; builds inside the image)" bash -c \
    'cd tests/container && timeout 1500 node --test --test-concurrency=1 --test-timeout=900000 .'
background_group "high availability (master, replica, three redis-sentinels, nodes; release binary)" bash -c \
    'cd tests/ha && SSEBROKER_BIN="$PWD/../../build/ssebroker" timeout 600 node --test --test-concurrency=1 --test-timeout=300000 .'
group "integration (TSan binary)" integration build-tsan/ssebroker core.test.mjs multiworker.test.mjs replay.test.mjs durable.test.mjs cluster.test.mjs presence_cluster.test.mjs
group "integration (release binary)" integration build/ssebroker
group "integration (release binary, sendmsg writes)" integration_sendmsg build/ssebroker \
    core.test.mjs multiworker.test.mjs lifecycle.test.mjs replay.test.mjs bad_input.test.mjs
group "integration (release binary, every broker on an embedded log)" integration_log build/ssebroker \
    core.test.mjs replay.test.mjs multiworker.test.mjs mercure.test.mjs lifecycle.test.mjs validation.test.mjs
group "cluster harness (redis-server, three nodes, HAProxy; release binary)" bash -c \
    'cd tests/cluster && SSEBROKER_BIN="$PWD/../../build/ssebroker" timeout 900 node --test --test-concurrency=1 --test-timeout=120000 .'
group "soak (release: exactly once, heap back to baseline)" soak build/ssebroker --seconds 40 --rounds 2
group "soak (ASan+UBSan: no leak)" soak build-asan/ssebroker --seconds 30 --subscribers 1000 --rate 1000
group "soak (TSan: no race)" soak build-tsan/ssebroker --seconds 20 --subscribers 500 --rate 500
if [ -x scripts/fuzz.sh ]; then
    group "fuzz (short runs)" bash scripts/fuzz.sh "${SSEB_FUZZ_SECONDS:-15}"
fi
collect_background_groups

echo
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
