# The two commands a newcomer needs: `make up` runs the platform, `make test` runs every test
# and linter. Both run the idempotent setup first.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --locked --all-packages --quiet

.PHONY: setup up down status test test-fast lint format demo deploy frontend frontend-dev
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

# The delivery pipeline's seven stages on the running platform (docs/pipeline.md): tests, build,
# backup, staging, production (blue-green, after an approval asked at the terminal), validation,
# notification. VERSION=... names the release (default: sha-<commit>); APPROVE=1 approves
# production in advance. Values reach flightdeck as environment variables, not as shell text.
deploy: export FLIGHTDECK_PIPELINE_VERSION = $(VERSION)
deploy: export FLIGHTDECK_PIPELINE_APPROVE = $(if $(APPROVE),1,)
deploy: setup
	@$(UV) flightdeck pipeline run

# The frontend bundle (app/frontend/dist), which `make up` serves; `make setup` builds it too
# when its sources changed.
frontend: setup
	@cd app/frontend && npm run --silent build

# Vite's dev server with hot reload on http://localhost:5173, the API proxied to `make up`.
frontend-dev: setup
	@cd app/frontend && npm run dev
