# One tooling gate shared by developers and CI: `make test`. `make demo` shows the service working.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
BASE_STAMP := $(VENV)/.installed-base
INFRA_STAMP := $(VENV)/.installed-infra
MUTATION_STAMP := $(VENV)/.installed-mutation
COVERAGE_DIR := build/coverage
# Branch coverage of functions/ ([tool.coverage] in pyproject.toml), one data file per suite.
PYTEST_COV := $(PYTEST) --cov --cov-report=
LAYER_DIR ?= build/layer
CDK ?= npx --yes aws-cdk@2.1148.2

.PHONY: help venv demo serve test suites coverage lint unit integration e2e browser chromium infra contract openapi schemas mutation bench bench-email bench-load bench-local mfe-check layer synth deploy deploy-check clean

help:
	@echo "make demo     start the local stack, seed 2,000 learners, run a grade report over HTTP, show it"
	@echo "make test     lint + type-check + unit, integration, end-to-end, contract, browser and infrastructure"
	@echo "              tests,"
	@echo "              then the branch-coverage floor (tests/tools/coverage_gate.py)"
	@echo "make mutation mutation testing of the task-safety modules (slow; score in TESTING.md)"
	@echo "make serve    run the local stack until Ctrl-C (API on http://127.0.0.1:8080)"
	@echo "make bench    grade report benchmark (1,000 and 10,000 learners), then bench-email -> BENCHMARKS.md"
	@echo "make bench-email  one course email to 10,000 learners: requests per 1,000 by service -> BENCHMARKS.md"
	@echo "make bench-load  a 1,000,000-row data load through S3 (rows/s, requests, memory) -> BENCHMARKS.md"
	@echo "make bench-local the local stack under 20 courses x 5,000 learners: reports, rescore, cancel/resume, status reads -> BENCHMARKS.md"
	@echo "make openapi  regenerate docs/openapi.json from the API's routes (commit it)"
	@echo "make schemas  regenerate docs/events/*.schema.json from the event models (and functions/openedx_avro/)"
	@echo "make synth    synthesise the CloudFormation template (offline) into cdk.out/"
	@echo "make deploy-check  validate the deployment settings, layer and template offline"
	@echo "make deploy   deploy-check, then cdk deploy and print the stack outputs (needs AWS credentials)"

venv: $(BASE_STAMP)

$(BASE_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e ".[local,test]"
	@touch $@

$(INFRA_STAMP): $(BASE_STAMP)
	$(PIP) install -e ".[local,test,infra]"
	@touch $@

$(MUTATION_STAMP): $(BASE_STAMP)
	$(PIP) install -e ".[local,test,mutation]"
	@touch $@

demo: $(BASE_STAMP)
	$(VENV)/bin/itask --home .local/demo demo --learners 2000

serve: $(BASE_STAMP)
	$(VENV)/bin/itask serve

# Each suite is its own pytest run: integration tests mock AWS in-process, end-to-end tests run a
# real local server, and the two must not share a process. pytest exits 5 when it collects nothing,
# and tests/conftest.py fails a run in which anything was skipped: both fail the target, as they
# should. The suites and lint run side by side (the integration suite on two workers) to fit the
# 2-core machine's ten minutes; their output is shown suite by suite as each ends. Then the coverage
# floor.
test: $(INFRA_STAMP)
	@rm -rf $(COVERAGE_DIR)
	@$(MAKE) --no-print-directory -j 3 --output-sync=target suites
	@$(MAKE) --no-print-directory coverage

# The longest first; lint runs beside them (a failure still fails the target).
suites: integration e2e lint unit contract browser infra

coverage: $(BASE_STAMP)
	$(PY) -m coverage combine --keep --data-file=$(COVERAGE_DIR)/all.coverage \
		$(COVERAGE_DIR)/unit.coverage $(COVERAGE_DIR)/integration.coverage
	$(PY) -m tests.tools.coverage_gate $(COVERAGE_DIR)/all.coverage

lint: $(BASE_STAMP)
	$(VENV)/bin/ruff check functions itask tests bench infra scripts
	$(VENV)/bin/ruff format --check functions itask tests bench infra scripts
	$(VENV)/bin/mypy

unit: $(BASE_STAMP)
	@mkdir -p $(COVERAGE_DIR)
	COVERAGE_FILE=$(COVERAGE_DIR)/unit.coverage $(PYTEST_COV) tests/unit

integration: $(BASE_STAMP)
	@mkdir -p $(COVERAGE_DIR)
	COVERAGE_FILE=$(COVERAGE_DIR)/integration.coverage $(PYTEST_COV) -n 2 --durations=15 tests/integration

e2e: $(BASE_STAMP)
	$(PYTEST) --durations=10 tests/e2e

# The dashboard in a real browser: Debian's chromium (installed with apt when missing; Playwright's
# own browser downloads are never used) driven by Playwright, against a local stack of its own. The
# suite fails, never skips, without chromium.
browser: $(BASE_STAMP) chromium
	$(PYTEST) tests/browser

chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; }

# The API contract over HTTP: schemathesis against docs/openapi.json and the authorization matrix, on a
# local stack of their own (a real server: its own pytest process, like e2e).
contract: $(BASE_STAMP)
	$(PYTEST) --durations=5 tests/contract

infra: $(INFRA_STAMP)
	ITASK_REQUIRE_INFRA=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(PYTEST) tests/infra

# The published API contract: docs/openapi.json is generated from the routes (tests/unit checks it).
openapi: $(BASE_STAMP)
	$(PY) -m itask.openapi

# The published JSON Schemas of the bus events (docs/events/) and of the data load kinds' JSON lines
# (docs/loads/), from their pydantic models.
schemas: $(BASE_STAMP)
	$(PY) -m itask.schemas
	$(PY) -m itask.load_schemas
	$(PY) -m itask.openedx_avro

# Mutation testing (mutmut, [tool.mutmut] in pyproject.toml) of the modules that keep tasks safe:
# the lifecycle, the ledger and slots (tasks_repo), the sweeper, permissions. Slow: not in `make test`.
# Writes the score per module and the surviving mutants to build/mutation/ (TESTING.md says how to read it).
# MUTATION_WAIT_S: a mutant that keeps a task from finishing fails its test after 2 minutes, not 10
# (raise it on a machine loaded far past its cores, where clean tests need longer).
# MUTANTS: mutant names or globs to run only those, e.g. MUTANTS='functions.logic.sweeper*'.
MUTATION_WAIT_S ?= 120
MUTANTS ?=
mutation: $(MUTATION_STAMP)
	rm -rf mutants
	ITASK_TEST_WAIT_S=$(MUTATION_WAIT_S) ITASK_TEST_ARRIVAL_S=$(MUTATION_WAIT_S) \
		$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(PY) -m tests.tools.mutation_score

bench: $(BASE_STAMP)
	$(PY) bench/grade_report.py --learners 1000 10000 --write BENCHMARKS.md
	$(MAKE) bench-email

bench-email: $(BASE_STAMP)
	$(PY) bench/bulk_email.py --recipients 10000 --write BENCHMARKS.md

# Open edX's own instructor dashboard (frontend-app-instruct), built elsewhere, driven against the local
# stack in chromium (not in `make test`: its packages are not on the registries; README).
mfe-check: $(BASE_STAMP) chromium
	@test -n "$(MFE_DIST)" || { echo "make mfe-check MFE_DIST=/path/to/frontend-app-instruct/dist"; exit 2; }
	$(PY) scripts/openedx_mfe_check.py "$(MFE_DIST)"

# The local stack (`itask serve`'s) holding 20 courses x 5,000 learners: reports on the first, middle and
# last course, a rescore, a cancel and resume, status-read latency meanwhile (issue #8 item 13).
bench-local: $(BASE_STAMP)
	nice -n 10 $(PY) bench/local_load.py --courses 20 --learners 5000 --json-out bench/results/local-load-20x5000.json --write BENCHMARKS.md

bench-load: $(BASE_STAMP)
	$(PY) bench/data_load.py --rows 1000000 --memory-rows 100000 1000000 --write BENCHMARKS.md
	$(PY) bench/course_import.py --mb 100 --write BENCHMARKS.md

layer: $(BASE_STAMP)
	$(PY) infra/build_layer.py --layer-dir $(LAYER_DIR)

synth: $(INFRA_STAMP)
	@test -d $(LAYER_DIR) || $(MAKE) layer
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(PY) infra/app.py

# Offline: the cdk.json settings, the region, the layer, cdk-nag and cfn-lint (README "First deployment").
deploy-check: $(INFRA_STAMP)
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(PY) infra/deploy_check.py

deploy: $(INFRA_STAMP)
	@test -d $(LAYER_DIR) || $(MAKE) layer
	$(MAKE) deploy-check
	$(MAKE) synth
	@mkdir -p build
	$(CDK) deploy --app cdk.out --outputs-file build/cdk-outputs.json
	@$(PY) infra/show_outputs.py build/cdk-outputs.json

clean:
	rm -rf $(VENV) cdk.out build .local .pytest_cache .mypy_cache .ruff_cache reports mutants
