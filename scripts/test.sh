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
[[ "${1:-}" == "--lint-only" ]] && exit 0

echo "==> pytest"
run pytest "$@"
