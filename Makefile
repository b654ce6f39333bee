# Everything from a fresh clone with only Python 3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install build check test lint typecheck selfcheck hooks bench add-tenant remove-tenant clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## build: install, then compile the bundled tenants.yaml into generated/
build: $(STAMP)
	$(BIN)/gitopsgen build

check: $(STAMP)
	$(BIN)/gitopsgen check

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

typecheck: $(STAMP)
	$(BIN)/mypy

## selfcheck: the repository's own tenants.yaml, generated/ and schema/ are in sync
selfcheck: $(STAMP)
	$(BIN)/gitopsgen validate
	$(BIN)/gitopsgen check
	$(BIN)/gitopsgen validate -c examples/fleet/tenants.yaml
	$(BIN)/gitopsgen check -c examples/fleet/tenants.yaml
	$(BIN)/gitopsgen schema | diff -u schema/tenants.schema.json - \
		|| { echo "schema/tenants.schema.json is stale: run 'gitopsgen schema > schema/tenants.schema.json'"; exit 1; }

## hooks: this repository's own pre-commit hooks (.pre-commit-config.yaml) on every file
hooks: $(STAMP)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

## test: install, then lint, type-check, self-check, run the hooks and the whole test suite
test: lint typecheck selfcheck hooks
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --fleet 2000,20000

# The seed's muscle memory: make add-tenant TENANT_NAME=d [TENANT_IP=172.18.0.215]
add-tenant: $(STAMP)
	$(BIN)/gitopsgen add-tenant $(TENANT_NAME) $(if $(TENANT_IP),--ip $(TENANT_IP))

remove-tenant: $(STAMP)
	$(BIN)/gitopsgen remove-tenant $(TENANT_NAME)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
