#!/usr/bin/env bash
# Makes a self-signed development certificate for HAProxy's TLS listener (docker/haproxy.cfg):
# one PEM holding the certificate and its key, for localhost and 127.0.0.1, valid 30 days.
#   bash scripts/dev-cert.sh [OUT_DIR]   (default docker/certs; writes OUT_DIR/dev.pem)
# Never use it in production: browsers warn about it, and anyone with the file can impersonate.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docker/certs}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$out/dev.pem"
chmod 600 "$out/dev.pem"
echo "dev-cert: wrote $out/dev.pem"
