#!/usr/bin/env bash
# Makes a self-signed development certificate for HAProxy's TLS listener (docker/haproxy.cfg):
# one PEM holding the certificate and its key, for localhost and 127.0.0.1, valid 30 days.
#   bash scripts/dev-cert.sh [OUT_DIR]   (default docker/certs; writes OUT_DIR/dev.pem)
# Never use it in production: browsers warn about it, and anyone with the file can impersonate.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docker/certs}"
# A directory made here is traversable by HAProxy's user too, whatever the umask.
[ -d "$out" ] || { mkdir -p "$out"; chmod 755 "$out"; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$out/dev.pem"
# Readable by every user: HAProxy's official image runs as uid 99 and reads this file through a
# bind mount (docker/compose.yml), where mode 600 for the host user would make it start without
# TLS. Acceptable for a throwaway development key only; a real key belongs to HAProxy's user.
chmod 644 "$out/dev.pem"
echo "dev-cert: wrote $out/dev.pem"
