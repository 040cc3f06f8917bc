#!/usr/bin/env bash
# Runs Mercure's own conformance suites (dunglas/mercure, conformance-tests/: Playwright) against
# build/ssebroker in Debian's Chromium, from a local git mirror of that repository. By hand only:
# the mirror is not on CI machines, and tests/integration/conformance08.test.mjs reproduces the
# same cases in the test command. Nothing of the suite is copied into this repository: each tag's
# conformance-tests/ is extracted with git archive into WORKDIR and run there, unmodified, with a
# config of ours beside it that imports theirs and keeps only the chromium project.
#   bash scripts/upstream-conformance.sh MIRROR_GIT_DIR [TAG...]   (default: v1.0.0-alpha.3 v0.24.2)
# Environment: WORKDIR (/tmp/ssebroker-upstream-conformance), PORT (18931, loopback), HTTPS=1 (also
# through HAProxy with TLS and h2 on 127.0.0.1:PORT+1, BASE_URL https://localhost:PORT+1: the
# suite's default is an HTTPS hub), CHROMIUM_BIN (/usr/bin/chromium), SSEBROKER_BIN
# (build/ssebroker), BROKER_ARGS (extra broker options, e.g. "--history-dir /tmp/h"),
# PLAYWRIGHT_ARGS (extra `playwright test` arguments, e.g. "--repeat-each=3").
# Needs the npm registry (or a warm npm cache) the first time, for the suite's locked
# @playwright/test; browser downloads are skipped. Exit status 0 when every suite passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mirror="${1:?usage: $0 MIRROR_GIT_DIR [TAG...]}"
shift
tags=("$@")
[ ${#tags[@]} -gt 0 ] || tags=(v1.0.0-alpha.3 v0.24.2)
workdir="${WORKDIR:-/tmp/ssebroker-upstream-conformance}"
port="${PORT:-18931}"
tls_port=$((port + 1))
chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"
bin="${SSEBROKER_BIN:-$root/build/ssebroker}"
[ -x "$bin" ] || { echo "no broker at $bin: bash scripts/build.sh release" >&2; exit 2; }
mkdir -p "$workdir"

# What the suites' tokens need (both signed HS256 with the reference hub's CI key): the 1.0 one
# is an at+jwt with aud https://localhost/.well-known/mercure and iss https://localhost; the 0.24
# one a draft-07 token. The subscribers are anonymous (the default here).
key='!ChangeThisMercureHubJWTSecretKey!'
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null && { wait "$p" 2>/dev/null || true; }; done
    true
}
trap cleanup EXIT
# shellcheck disable=SC2086 # BROKER_ARGS is a list of words
"$bin" --listen "127.0.0.1:$port" --jwt-key "$key" \
    --resource-identifier https://localhost/.well-known/mercure --jwt-issuer https://localhost \
    ${BROKER_ARGS:-} >"$workdir/broker.log" 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port/.well-known/mercure"
if [ "${HTTPS:-0}" = 1 ]; then
    bash scripts/dev-cert.sh "$workdir" >/dev/null
    cat >"$workdir/haproxy.cfg" <<EOF
defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout http-request 10s
frontend mercure
    bind 127.0.0.1:$tls_port ssl crt $workdir/dev.pem alpn h2,http/1.1
    default_backend broker
backend broker
    server b1 127.0.0.1:$port
EOF
    haproxy -f "$workdir/haproxy.cfg" >"$workdir/haproxy.log" 2>&1 &
    pids+=($!)
    base="https://localhost:$tls_port/.well-known/mercure"
fi
for _ in $(seq 50); do
    curl -skf -o /dev/null "${base%/.well-known/mercure}/healthz" && break
    sleep 0.1
done

failed=0
summary=()
for tag in "${tags[@]}"; do
    dir="$workdir/$tag/conformance-tests"
    mkdir -p "$workdir/$tag"
    git --git-dir="$mirror" archive "$tag" conformance-tests | tar -x -C "$workdir/$tag"
    if [ ! -d "$dir/node_modules/@playwright/test" ]; then
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund)
    fi
    cat >"$dir/ssebroker.config.ts" <<EOF
// Written by ssebroker's scripts/upstream-conformance.sh: the suite's own config, chromium only.
import base from "./playwright.config";
import { devices } from "@playwright/test";
export default {
  ...base,
  reporter: [["list"]],
  projects: [{ name: "chromium",
    use: { ...devices["Desktop Chrome"], launchOptions: { executablePath: "$chromium" } } }],
};
EOF
    echo "== $tag: @playwright/test $(cd "$dir" && npx playwright --version | awk '{print $2}')," \
        "$("$chromium" --version 2>/dev/null | head -1), BASE_URL=$base"
    log="$workdir/$tag.log"
    result=passed
    # shellcheck disable=SC2086 # PLAYWRIGHT_ARGS is a list of words
    (cd "$dir" && BASE_URL="$base" npx playwright test -c ssebroker.config.ts ${PLAYWRIGHT_ARGS:-}) \
        >"$log" 2>&1 || { result=FAILED; failed=1; }
    # The suite logs every step of every page: show the results, the whole log stays in $log.
    grep -vE '^\s*$|^\s*(data:|creating EventSource|EventSource|Creating POST|POST request|[a-zA-Z ]+$)' "$log" || true
    summary+=("$tag: $result, $(grep -E '^\s+[0-9]+ (passed|failed|flaky|skipped)' "$log" | xargs || true)")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
