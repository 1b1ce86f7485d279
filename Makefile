# Tessera: `make run` starts the service, `make test` runs the tests (both set up .venv first).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: help venv build run test test-slow lint bench bench-quick bench-pytest bench-guard profile debug clean proto

help:
	@echo "make run        serve the example programme over gRPC (embedded Redis, ./var)"
	@echo "make proto      regenerate tessera/v1 from proto/ (generated code is committed)"
	@echo "make test       set up .venv, build the extension, run the test suite"
	@echo "make test-slow  the slow/load tests (marker: slow)"
	@echo "make bench      every benchmark suite; report in bench/results/<date> (tessera bench)"
	@echo "make bench-quick the same, shorter (sizes 100-10,000, fewer rounds)"
	@echo "make bench-guard the CI guard: four same-run ratios against bench/guard.toml"
	@echo "make profile    where an authorisation spends its time (bench/results/profile)"
	@echo "make bench-pytest the pytest-benchmark suites in bench/ (test_bench_*.py)"
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

# The bench extra (peers, matplotlib, py-spy) is installed for the benchmark targets only.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: build $(BENCH_STAMP)
	$(VENV)/bin/tessera bench $(BENCH_ARGS)

bench-quick: build $(BENCH_STAMP)
	$(VENV)/bin/tessera bench --quick $(BENCH_ARGS)

bench-pytest: build
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=median,ops,rounds --benchmark-sort=name

bench-guard: build
	$(PY) -m bench.guard

profile: build $(BENCH_STAMP)
	$(PY) -m bench.profile

debug: $(STAMP)
	TESSERA_DEBUG=1 $(PY) setup.py --quiet build_ext --inplace --force

clean:
	rm -rf build $(VENV) ext/*.c ext/*.so ext/*.html engine/*.c engine/*.so engine/*.html server/*.c server/*.so server/*.html server/*/*.c server/*/*.so server/*/*.html *.egg-info
