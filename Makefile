# simengine: `make demo` runs the main demo, `make test` runs lint (ruff) and the tests.
# Both create .venv when it is missing and install everything (through `make setup`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch unless an NVIDIA GPU is present (an unpinned torch pulls GBs of CUDA packages).
	if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
	    $(BIN)/pip install -q torch; \
	else \
	    $(BIN)/pip install -q torch==2.13.0; \
	fi
	$(BIN)/pip install -q -e ".[test,bench,md,mesh]"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m learned.demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build *.egg-info
