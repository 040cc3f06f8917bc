#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang, ASan+UBSan) and runs every tests/fuzz/fuzz_*
# target for SECONDS each (default 20) on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name without fuzz_>/), so runs never grow the repository.
# Fails when a target crashes, leaks, times out or hits a sanitizer; the reproducer is kept in
# build-fuzz/artifacts/<target>/ and printed.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 fuzz_http
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [seconds] [fuzz_target...]" >&2; exit 2 ;; esac

CC="${CC:-clang}" cmake -S . -B build-fuzz -DSSEB_FUZZ=ON -DSSEB_TESTS=OFF -DSSEB_JEMALLOC=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do
        [ -e "$src" ] || continue
        name="$(basename "$src" .c)"
        targets+=("$name")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz: no tests/fuzz/fuzz_*.c targets" >&2
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for name in "${targets[@]}"; do
    bin="build-fuzz/$name"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin was not built" >&2
        failed+=("$name")
        continue
    fi
    corpus="$scratch/$name"
    mkdir -p "$corpus"
    seeds="tests/fuzz/corpus/${name#fuzz_}"
    if [ -d "$seeds" ]; then cp -R "$seeds/." "$corpus/"; fi
    artifacts="build-fuzz/artifacts/$name"
    mkdir -p "$artifacts"
    dict=()
    [ -f "tests/fuzz/${name}.dict" ] && dict=(-dict="tests/fuzz/${name}.dict")
    echo "fuzz: $name for ${seconds}s (seeds: $(find "$corpus" -type f | wc -l))"
    log="$scratch/$name.log"
    if "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
        grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | sed "s/^/  /" || true
    else
        tail -n 60 "$log" >&2
        echo "fuzz: $name FAILED; reproducer(s):" >&2
        ls -1 "$artifacts" >&2 || true
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failures: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ok (${targets[*]})"
