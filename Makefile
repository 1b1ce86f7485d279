# Tessera: `make run` starts the service, `make test` runs the tests (both set up .venv first).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv build run test test-slow lint bench debug clean proto

help:
	@echo "make run        serve the example programme over gRPC (embedded Redis, ./var)"
	@echo "make proto      regenerate tessera/v1 from proto/ (generated code is committed)"
	@echo "make test       set up .venv, build the extension, run the test suite"
	@echo "make test-slow  the slow/load tests (marker: slow)"
	@echo "make bench      benchmark suites (pytest-benchmark)"
	@echo "make lint       ruff"
	@echo "make debug      rebuild the extension with bounds checks and line tracing"

$(STAMP): pyproject.toml setup.py
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

build: $(STAMP)
	$(PY) setup.py --quiet build_ext --inplace

run: build
	$(VENV)/bin/tessera check rules/coffee.rules
	$(VENV)/bin/tessera serve --rules rules/coffee.rules --workers 1

# The generated gRPC code in tessera/v1 is committed; regenerate it after editing proto/.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. --pyi_out=. proto/tessera/v1/*.proto

test: build
	$(PY) -m pytest -q -m "not slow"

test-slow: build
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check engine ext server bench tests tessera

bench: build
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=median,ops,rounds --benchmark-sort=name

debug: $(STAMP)
	TESSERA_DEBUG=1 $(PY) setup.py --quiet build_ext --inplace --force

clean:
	rm -rf build $(VENV) ext/*.c ext/*.so ext/*.html *.egg-info
