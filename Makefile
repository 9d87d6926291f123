# Vigil: `make run` sets everything up and runs the demo; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

WHEELHOUSE := var/wheelhouse

.PHONY: install run serve test lint bench clean system-deps wheelhouse

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# the wheels of Vigil's declared dependencies, so that a test installs `vigil` into a fresh virtual
# environment without reaching the network (tests stay on loopback)
wheelhouse: $(WHEELHOUSE)/.built

$(WHEELHOUSE)/.built: pyproject.toml
	rm -rf $(WHEELHOUSE)
	$(BIN)/pip wheel -q -w $(WHEELHOUSE) '.[images,sbom]'
	rm -f $(WHEELHOUSE)/vigil-*.whl
	touch $@

system-deps:
	./scripts/system-deps.sh

run: install system-deps
	$(BIN)/python -m vigil.demo

# the demo's fleet service in the foreground, until Ctrl-C (after `make run`; LISTEN=host:port to change)
LISTEN ?= 127.0.0.1:8443
serve: install system-deps
	$(BIN)/python -m vigil.demo --serve $(LISTEN)

test: install system-deps wheelhouse
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install system-deps
	$(BIN)/python benchmarks/inventory.py
	$(BIN)/python benchmarks/host.py
	$(BIN)/python benchmarks/matching.py --workdir $(HOME)/.cache/vigil-bench/matching

clean:
	rm -rf $(VENV) var
