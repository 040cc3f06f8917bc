#!/usr/bin/env bash
# Builds one flavour: release (build/), asan (build-asan/: ASan+UBSan), tsan (build-tsan/),
# broker (build-broker/: the release broker alone, no tests or bench tools: the container image).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
target=()
case "$flavour" in
    release) dir=build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DSSEB_SANITIZE=address) ;;
    tsan) dir=build-tsan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSEB_SANITIZE=thread -DSSEB_TESTS=OFF) ;;
    broker) dir=build-broker; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSEB_TESTS=OFF -DSSEB_BENCH=OFF); target=(--target ssebroker) ;;
    *) echo "usage: $0 [release|asan|tsan|broker]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" "${target[@]}"
echo "build: $dir/ssebroker"
