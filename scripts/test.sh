#!/usr/bin/env bash
# Every linter and every test; `make test` and CI run this.
#   scripts/test.sh               linters, then every test tier (unit, integration, e2e)
#   scripts/test.sh --fast        linters, then the unit tier only (`make test-fast`)
#   scripts/test.sh --lint-only   linters only
# Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
run() { uv run --locked --all-packages --quiet "$@"; }

mode=all
case "${1:-}" in
  --fast) mode=fast; shift ;;
  --lint-only) mode=lint; shift ;;
esac

echo "==> ruff check";  run ruff check .
echo "==> ruff format"; run ruff format --check .
echo "==> mypy (strict)"; run mypy
echo "==> import layers (import-linter)"; run lint-imports --no-cache | grep -E "KEPT|BROKEN|not allowed|->"

# The frontend (app/frontend): its tools come from `make setup`; a missing one is an error.
command -v npm >/dev/null || { echo "test.sh: npm is not installed: run make setup" >&2; exit 1; }
[[ -d app/frontend/node_modules ]] ||
  { echo "test.sh: app/frontend/node_modules is missing: run make setup" >&2; exit 1; }
frontend() { (cd app/frontend && npm run --silent "$@"); }
echo "==> frontend: eslint and prettier"; frontend lint
echo "==> frontend: tsc --noEmit (strict)"; frontend typecheck
echo "==> frontend: the generated API client matches the backend"; frontend check:client
[[ $mode == lint ]] && exit 0

echo "==> frontend: vitest"; frontend test

# Two workers; a test file stays on one worker (its module fixtures start servers once).
workers=(-n "${PYTEST_WORKERS:-2}" --dist loadfile)
if [[ $mode == fast ]]; then
  echo "==> pytest (unit tier)"
  # A function's tier overrides its module's: a module of unit tests may hold an integration one.
  run pytest -m "unit and not integration and not e2e" "${workers[@]}" "$@"
else
  # The bundle the browser tests (tests/e2e/test_frontend_browser.py) load through the platform.
  echo "==> frontend: vite build"; frontend build
  echo "==> pytest (every tier)"
  run pytest "${workers[@]}" "$@"
fi
