#!/usr/bin/env bash
# Prints an HS256 JWT allowing every topic for publishing and subscribing.
# usage: scripts/dev-token.sh [KEY] [CLAIMS_JSON]
set -euo pipefail
key="${1:-!ChangeThisMercureHubJWTSecretKey!}"
claims="${2:-{\"mercure\":{\"publish\":[\"*\"],\"subscribe\":[\"*\"]}}}"
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '%s' "$claims" | b64url)
sig=$(printf '%s' "$header.$payload" | openssl dgst -sha256 -hmac "$key" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$sig"
