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
[[ $mode == lint ]] && exit 0

# Two workers; a test file stays on one worker (its module fixtures start servers once).
workers=(-n "${PYTEST_WORKERS:-2}" --dist loadfile)
if [[ $mode == fast ]]; then
  echo "==> pytest (unit tier)"
  run pytest -m unit "${workers[@]}" "$@"
else
  echo "==> pytest (every tier)"
  run pytest "${workers[@]}" "$@"
fi
