#!/usr/bin/env bash
# Sets up, builds and starts ssebroker on :8080 with its embedded defaults (no Redis, no config
# file). Extra arguments go to the broker (see build/ssebroker --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
token=$(bash scripts/dev-token.sh)
cat <<MSG

ssebroker is starting on http://localhost:8080 with the development key
'!ChangeThisMercureHubJWTSecretKey!' (set --jwt-key or SSEBROKER_JWT_KEY for anything real).

Open http://localhost:8080/ in a browser, or:

  # subscribe (-g: the braces of the URI template are sent as they are, not globbed by curl)
  curl -N -g 'http://localhost:8080/.well-known/mercure?topic=https://example.com/books/{id}'

  # publish (token allowing every topic, for the development key)
  curl -X POST http://localhost:8080/.well-known/mercure \\
       -H 'Authorization: Bearer $token' \\
       -d 'topic=https://example.com/books/1' -d 'data={"title":"Hello"}'

MSG
exec build/ssebroker "$@"
