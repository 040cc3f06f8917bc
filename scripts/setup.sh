#!/usr/bin/env bash
# Installs everything ssebroker needs to build, run and test, from Debian packages and npm.
# Idempotent and quick when everything is already there.
#   bash scripts/setup.sh               build, run and test on this machine
#   bash scripts/setup.sh --container   also podman and debootstrap: tests/container/ builds and
#                                       runs the image (scripts/test.sh asks for this)
#   bash scripts/setup.sh --broker      only what compiles the broker (docker/Dockerfile's build
#                                       stage): no test toolchain, no npm
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(cmake gcc clang pkg-config make node-llhttp libjemalloc-dev liburing-dev libjwt-dev gnuplot-nox
      libjansson-dev libssl-dev libhiredis-dev libcriterion-dev curl haproxy redis-server redis-sentinel
      openssl llvm libclang-rt-14-dev chromium libpcre2-dev libicu-dev strace)

# What compiles the broker alone (scripts/build.sh broker, docker/Dockerfile): a library the
# broker links goes here too (tests/container/ builds the image from this list only).
BROKER_DEBS=(cmake gcc pkg-config make node-llhttp libjemalloc-dev liburing-dev libjansson-dev
             libssl-dev libhiredis-dev libpcre2-dev libicu-dev)
# Only for tests/container/: the quick start (scripts/run.sh) needs none of this.
CONTAINER_DEBS=(podman runc buildah fuse-overlayfs slirp4netns uidmap debootstrap python3-yaml)
mode="${1:-}"
case "$mode" in
    "") ;;
    --container) DEBS+=("${CONTAINER_DEBS[@]}") ;;
    --broker) DEBS=("${BROKER_DEBS[@]}") ;;
    *) echo "usage: $0 [--container|--broker]" >&2; exit 2 ;;
esac

missing=()
for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another repository (with its own npm); Debian's would conflict with it.
[ "$mode" = --broker ] || command -v node >/dev/null 2>&1 || missing+=(nodejs npm)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "$mode" = --broker ] && { echo "setup: ok (broker only)"; exit 0; }
# Real clients for the integration tests: the eventsource npm package and playwright-core.
if [ ! -d tests/integration/node_modules/eventsource ] || [ ! -d tests/integration/node_modules/playwright-core ]; then
    (cd tests/integration && npm install --no-audit --no-fund --loglevel=error)
fi
# The URL Pattern differential test's oracles: urlpattern-polyfill (and playwright-core for Chromium).
if [ ! -d tests/urlpattern/node_modules/urlpattern-polyfill ] || [ ! -d tests/urlpattern/node_modules/playwright-core ]; then
    (cd tests/urlpattern && npm install --no-audit --no-fund --loglevel=error)
fi
echo "setup: ok"
