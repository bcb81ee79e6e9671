# Ninety: `make run` starts the product, `make test` tests it. Both bootstrap what they
# need (a .venv, npm packages, compiled contracts) and skip what is already up to date.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
export SOLCX_BINARY_PATH := $(CURDIR)/tools/solc
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)

TOOLS_VENV := .tools-venv
SCHEMA_VENV := .schema-venv

.PHONY: run test test-fast test-contracts test-python slither bench bench-gas bench-indexer bench-api build check-requirements clean help

help:
	@echo "make run    start Ninety locally (chain, IPFS node, contracts, API, web)"
	@echo "make test   run the whole test suite"
	@echo "make test-fast  run the unit tests only (pure logic, no node; seconds)"
	@echo "make bench  run the benchmarks (gas, indexer, api)"

check-requirements:
	@PYTHON=$(PYTHON) tools/check-requirements.sh

$(STAMPS)/venv: pyproject.toml | check-requirements
	@mkdir -p $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	@touch $@

$(STAMPS)/npm: package.json package-lock.json | check-requirements
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund
	@# Some npm releases (10.8 seen) leave Anvil's command unlinked: link its platform binary
	@# itself (not the node wrapper, whose child Brownie could not stop).
	@test -e node_modules/.bin/anvil || ln -s ../@foundry-rs/anvil-linux-$$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')/bin/anvil node_modules/.bin/anvil
	node_modules/.bin/anvil --version | head -1
	@touch $@

$(STAMPS)/build: $(STAMPS)/venv $(STAMPS)/npm brownie-config.yaml $(shell find contracts -name '*.sol')
	$(BIN)/brownie compile
	@touch $@

# The web app has no build step of its own: its one dependency is copied from npm.
web/vendor/ethers.min.js: $(STAMPS)/npm
	@mkdir -p web/vendor
	cp node_modules/ethers/dist/ethers.min.js $@

build: $(STAMPS)/build web/vendor/ethers.min.js

run: build
	$(BIN)/ninety up $(ARGS)

# Two workers, one test file each at a time (a file's fixtures and order stay together):
# most of these tests wait on servers, chains and subprocesses rather than on a core.
PYTEST_WORKERS ?= 2

# The contract suite (Brownie on its own Anvil, busy on one core) runs beside the Python
# suites (which mostly wait on servers): the whole run takes the longer of the two instead
# of their sum. Its output is kept in test-output/ and printed after the Python suites';
# `make test` fails when either fails.
CONTRACT_LOG := test-output/contract-tests.log

test: build slither $(STAMPS)/schema-venv
	@mkdir -p test-output
	@$(BIN)/python -m pytest -p no:cacheprovider tests/contracts > $(CONTRACT_LOG) 2>&1 & contracts=$$!; \
	NINETY_SCHEMATHESIS=$(CURDIR)/$(SCHEMA_VENV)/bin/schemathesis \
	  $(BIN)/python -m pytest -p no:pytest-brownie -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile \
	  --durations=15 tests --ignore=tests/contracts; python=$$?; \
	wait $$contracts; contract=$$?; \
	echo "== the contract suite (tests/contracts), run alongside: $(CONTRACT_LOG) =="; cat $(CONTRACT_LOG); \
	echo "Python suites: exit $$python; contract suite: exit $$contract"; \
	test $$python = 0 && test $$contract = 0

# The fast tier: tests/unit, pure logic that needs only the venv (no chain, IPFS node,
# database server, browser or compiled contracts). `make test` runs these too.
test-fast: $(STAMPS)/venv
	$(BIN)/python -m pytest -p no:pytest-brownie -p no:cacheprovider tests/unit

# Slither's dependencies clash with brownie's pins: it gets its own virtualenv.
$(STAMPS)/tools-venv: | check-requirements
	@mkdir -p $(STAMPS)
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet 'slither-analyzer==0.11.6'
	@touch $@

# Schemathesis needs a newer Hypothesis than brownie pins: its own virtualenv too.
$(STAMPS)/schema-venv: | check-requirements
	@mkdir -p $(STAMPS)
	@test -x $(SCHEMA_VENV)/bin/python || $(PYTHON) -m venv $(SCHEMA_VENV)
	$(SCHEMA_VENV)/bin/python -m pip install --quiet 'schemathesis==4.32.5'
	@touch $@

slither: $(STAMPS)/tools-venv $(STAMPS)/npm
	$(TOOLS_VENV)/bin/python tools/slither_check.py 2>/dev/null

test-contracts: build
	$(BIN)/python -m pytest -p no:cacheprovider tests/contracts

test-python: build
	$(BIN)/python -m pytest -p no:pytest-brownie -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile \
	  tests --ignore=tests/contracts

bench: bench-gas bench-indexer bench-api

bench-gas: build
	$(BIN)/python bench/gas.py

# SALES=10000 for a quicker run, RUNS=3 for medians, PEERS=1 to add Ponder (npm-installed into
# bench/peers/ponder here, and only here). PostgreSQL from NINETY_BENCH_PG_URL (default: local test db).
PEERS ?=
PONDER_DIR := bench/peers/ponder
$(PONDER_DIR)/node_modules/.installed: $(PONDER_DIR)/package.json $(PONDER_DIR)/package-lock.json
	cd $(PONDER_DIR) && npm ci --no-audit --no-fund
	@touch $@

bench-indexer: build $(if $(filter 1,$(PEERS)),$(PONDER_DIR)/node_modules/.installed)
	$(BIN)/python bench/indexer.py --sales $(or $(SALES),100000) $(if $(RUNS),--runs $(RUNS)) $(if $(filter 1,$(PEERS)),--peers)

bench-api: build
	$(BIN)/python bench/api.py --sales $(or $(SALES),1000000)

clean:
	rm -rf $(STAMPS) build reports
