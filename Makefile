# The two commands a newcomer needs: `make up` runs the platform, `make test` runs every test
# and linter. Both run the idempotent setup first.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --locked --all-packages --quiet

.PHONY: setup up down status test test-fast lint format demo
setup:
	@./scripts/setup.sh

up: setup
	@$(UV) flightdeck up

down:
	@$(UV) flightdeck down

status:
	@$(UV) flightdeck status

test: setup
	@./scripts/test.sh

# The linters and the unit tier (no servers): the quick loop, under two minutes.
test-fast: setup
	@./scripts/test.sh --fast

lint: setup
	@./scripts/test.sh --lint-only

format:
	@$(UV) ruff format .
	@$(UV) ruff check --fix .

demo: setup
	@$(UV) flightdeck demo
