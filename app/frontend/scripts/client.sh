#!/usr/bin/env bash
# The typed API client in src/client, generated from the backend's OpenAPI document.
#
#   app/frontend/scripts/client.sh           regenerate openapi.json and src/client in place
#   app/frontend/scripts/client.sh --check   fail if they differ from what the backend gives now
#
# The document comes from the FastAPI application (scripts/export_openapi.py, with uv), the
# client from @hey-api/openapi-ts (openapi-ts.config.ts). `make test` runs the check, so a
# backend change that alters the API fails until the client is regenerated and committed.
set -euo pipefail

FRONTEND="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$FRONTEND/../.." && pwd)"
export PATH="$HOME/.local/bin:$PATH"

mode="${1:-write}"
case "$mode" in
  write | --check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
for tool in uv npx; do
  command -v "$tool" >/dev/null || { echo "client.sh: $tool is not installed: run make setup" >&2; exit 1; }
done
[[ -x "$FRONTEND/node_modules/.bin/openapi-ts" ]] ||
  { echo "client.sh: app/frontend/node_modules is missing: run make setup" >&2; exit 1; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
(cd "$ROOT" && uv run --locked --all-packages --quiet python app/frontend/scripts/export_openapi.py "$scratch/openapi.json")
(cd "$FRONTEND" && OPENAPI_INPUT="$scratch/openapi.json" OPENAPI_OUTPUT="$scratch/client" \
  node_modules/.bin/openapi-ts >"$scratch/openapi-ts.log" 2>&1) ||
  { cat "$scratch/openapi-ts.log" >&2; exit 1; }

if [[ "$mode" == "--check" ]]; then
  if ! diff -u "$FRONTEND/openapi.json" "$scratch/openapi.json" ||
     ! diff -ru "$FRONTEND/src/client" "$scratch/client"; then
    echo "client.sh: the generated API client is out of date with the backend's OpenAPI document;" >&2
    echo "           run app/frontend/scripts/client.sh and commit openapi.json and src/client" >&2
    exit 1
  fi
  echo "the generated API client matches the backend's OpenAPI document"
  exit 0
fi

cp "$scratch/openapi.json" "$FRONTEND/openapi.json"
rm -rf "$FRONTEND/src/client"
cp -r "$scratch/client" "$FRONTEND/src/client"
echo "wrote app/frontend/openapi.json and app/frontend/src/client"
