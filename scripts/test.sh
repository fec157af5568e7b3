#!/usr/bin/env bash
# Every linter and every test; `make test` and CI run this.
#   scripts/test.sh               linters, then every test tier (unit, integration, e2e)
#   scripts/test.sh --fast        linters, then the unit tier only (`make test-fast`)
#   scripts/test.sh --lint-only   linters only
#   scripts/test.sh --frontend    the frontend's linters, tests and build only (a CI job of its own)
#   scripts/test.sh --tier TIER   one pytest tier only (unit, integration or e2e; a CI job each)
# Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.local/bin:$PATH"
run() { uv run --locked --all-packages --quiet "$@"; }

mode=all
case "${1:-}" in
  --fast) mode=fast; shift ;;
  --lint-only) mode=lint; shift ;;
  --frontend) mode=frontend; shift ;;
  --tier)
    mode=tier tier="${2:-}"; shift 2 || true
    [[ $tier =~ ^(unit|integration|e2e)$ ]] ||
      { echo "test.sh: --tier takes unit, integration or e2e" >&2; exit 2; } ;;
esac

# The frontend (app/frontend): its tools come from `make setup`; a missing one is an error.
frontend() {
  command -v npm >/dev/null || { echo "test.sh: npm is not installed: run make setup" >&2; exit 1; }
  [[ -d app/frontend/node_modules ]] ||
    { echo "test.sh: app/frontend/node_modules is missing: run make setup" >&2; exit 1; }
  (cd app/frontend && npm run --silent "$@")
}
frontend_checks() {
  echo "==> frontend: eslint and prettier"; frontend lint
  echo "==> frontend: tsc --noEmit (strict)"; frontend typecheck
  echo "==> frontend: the generated API client matches the backend"; frontend check:client
}
# Two workers; a test file stays on one worker (its module fixtures start servers once).
workers=(-n "${PYTEST_WORKERS:-2}" --dist loadfile)
if [[ $mode == tier ]]; then
  # The bundle the browser tests (tests/e2e/test_frontend_browser.py) load through the platform.
  if [[ $tier == e2e ]]; then echo "==> frontend: vite build"; frontend build; fi
  echo "==> pytest ($tier tier)"
  run pytest -m "$tier" "${workers[@]}" "$@"
  exit 0
fi
if [[ $mode == frontend ]]; then
  frontend_checks
  echo "==> frontend: vitest"; frontend test
  echo "==> frontend: vite build"; frontend build
  exit 0
fi

echo "==> ruff check";  run ruff check .
echo "==> ruff format"; run ruff format --check .
echo "==> mypy (strict)"; run mypy
echo "==> import layers (import-linter)"; run lint-imports --no-cache | grep -E "KEPT|BROKEN|not allowed|->"

# The GitHub Actions workflows: actionlint (with shellcheck for their `run:` steps) and zizmor
# (offline audits; suppressions are inline `# zizmor: ignore[...]` comments with their reason).
[[ -x bin/actionlint ]] || { echo "test.sh: bin/actionlint is missing: run make setup" >&2; exit 1; }
command -v shellcheck >/dev/null || { echo "test.sh: shellcheck is missing: run make setup" >&2; exit 1; }
echo "==> workflows: actionlint"; bin/actionlint
echo "==> workflows: zizmor"; run zizmor --offline --no-progress --persona auditor .github/workflows

frontend_checks
[[ $mode == lint ]] && exit 0

echo "==> frontend: vitest"; frontend test

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
