# Everything from a fresh clone with only Python 3 and make.
#   make build   installs gitopsgen with its runtime dependencies only, then builds
#   make test    also installs the test extras, then lints, type-checks and runs pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two stamps: the runtime install (make build) never pulls in the test toolchain.
VENV_STAMP    := $(VENV)/.venv-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TEST_STAMP    := $(VENV)/.test-stamp

.PHONY: install install-test build check test lint typecheck selfcheck hooks dist bench \
	add-tenant remove-tenant clean

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(RUNTIME_STAMP): pyproject.toml $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(RUNTIME_STAMP)
install-test: $(TEST_STAMP)

## build: install gitopsgen (runtime dependencies only), then compile tenants.yaml into generated/
build: $(RUNTIME_STAMP)
	$(BIN)/gitopsgen build

check: $(RUNTIME_STAMP)
	$(BIN)/gitopsgen check

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

## selfcheck: the repository's own tenants.yaml, generated/ and schema/ are in sync
## (pytest checks the same, once, in `make test`: tests/test_build_check.py)
selfcheck: $(RUNTIME_STAMP)
	$(BIN)/gitopsgen validate
	$(BIN)/gitopsgen check
	$(BIN)/gitopsgen validate -c examples/fleet/tenants.yaml
	$(BIN)/gitopsgen check -c examples/fleet/tenants.yaml
	$(BIN)/gitopsgen validate -c examples/workloads/tenants.yaml
	$(BIN)/gitopsgen check -c examples/workloads/tenants.yaml
	$(BIN)/gitopsgen schema | diff -u schema/tenants.schema.json - \
		|| { echo "schema/tenants.schema.json is stale: run 'gitopsgen schema > schema/tenants.schema.json'"; exit 1; }

## hooks: this repository's own pre-commit hooks (.pre-commit-config.yaml) on every file
## (not part of `make test`: pytest runs the published hooks through real pre-commit,
## and lint runs ruff)
hooks: $(TEST_STAMP)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

## dist: the sdist and the wheel in dist/, checked with twine
dist: $(TEST_STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

## test: install the test extras, then lint, type-check and run the whole test suite
test: lint typecheck
	$(BIN)/python -m pytest

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py --fleet 2000,20000 --peers

# The seed's muscle memory: make add-tenant TENANT_NAME=d [TENANT_IP=172.18.0.215]
add-tenant: $(RUNTIME_STAMP)
	$(BIN)/gitopsgen add-tenant $(TENANT_NAME) $(if $(TENANT_IP),--ip $(TENANT_IP))

remove-tenant: $(RUNTIME_STAMP)
	$(BIN)/gitopsgen remove-tenant $(TENANT_NAME)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build
