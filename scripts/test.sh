#!/usr/bin/env bash
# Every linter and every test; `make test` and CI run this. Extra arguments go to pytest,
# except --lint-only which stops after the linters.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
run() { uv run --locked --all-packages --quiet "$@"; }

echo "==> ruff check";  run ruff check .
echo "==> ruff format"; run ruff format --check .
echo "==> mypy (strict)"; run mypy

# The frontend (app/frontend): its tools come from `make setup`; a missing one is an error.
command -v npm >/dev/null || { echo "test.sh: npm is not installed: run make setup" >&2; exit 1; }
[[ -d app/frontend/node_modules ]] ||
  { echo "test.sh: app/frontend/node_modules is missing: run make setup" >&2; exit 1; }
frontend() { (cd app/frontend && npm run --silent "$@"); }
echo "==> frontend: eslint and prettier"; frontend lint
echo "==> frontend: tsc --noEmit (strict)"; frontend typecheck
echo "==> frontend: the generated API client matches the backend"; frontend check:client
[[ "${1:-}" == "--lint-only" ]] && exit 0

echo "==> frontend: vitest"; frontend test
# The bundle the browser tests (tests/e2e/test_frontend_browser.py) load through the platform.
echo "==> frontend: vite build"; frontend build

echo "==> pytest"
run pytest "$@"
