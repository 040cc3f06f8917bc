#!/usr/bin/env bash
# Builds one flavour: release (build/), asan (build-asan/: ASan+UBSan), tsan (build-tsan/).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
case "$flavour" in
    release) dir=build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DSSEB_SANITIZE=address) ;;
    tsan) dir=build-tsan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSEB_SANITIZE=thread -DSSEB_TESTS=OFF) ;;
    *) echo "usage: $0 [release|asan|tsan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "build: $dir/ssebroker"
