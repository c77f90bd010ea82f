# simengine: `make demo` runs the main demo, `make test` runs lint (ruff) and the tests.
# Both create .venv when it is missing and install everything (through `make setup`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean interop

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
	$(BIN)/pip install -q -e ".[test,bench,md,mesh,cluster]"
	touch $(STAMP)

demo: setup
	$(BIN)/python -m learned.demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

# Optional, not part of `make test`: LagrangeBench 0.2.0 in its own environment (never the project's) reads a
# freshly generated dataset, trains a few steps, rolls out, and its metrics are checked against `simengine
# compare` (benchmarks/interop/run_lagrangebench.py). LagrangeBench declares Requires-Python <= 3.11 and pins a
# torch build no index serves, hence --ignore-requires-python --no-deps and the explicit, old pins below; pip then
# reports its unmet pyvista (VTK output only) and torch==2.3.1+cpu requirements: expected, harmless here.
INTEROP_VENV := build/interop-venv
INTEROP_STAMP := $(INTEROP_VENV)/.installed
INTEROP_PY ?= $(PY)

$(INTEROP_STAMP):
	test -x $(INTEROP_VENV)/bin/python || $(INTEROP_PY) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/pip install -q --ignore-requires-python --no-deps lagrangebench==0.2.0 jax-sph==0.1.0
	$(INTEROP_VENV)/bin/pip install -q jax==0.4.29 jaxlib==0.4.29 dm-haiku==0.0.12 chex==0.1.86 ott-jax==0.4.7 \
	    'numpy<2' e3nn-jax==0.20.3 jraph==0.0.6.dev0 optax==0.1.7 jmp==0.0.4 matscipy==1.1.1 \
	    h5py omegaconf PyYAML cloudpickle wget wandb absl-py
	$(INTEROP_VENV)/bin/pip install -q 'numpy<2' torch==2.13.0
	touch $(INTEROP_STAMP)

interop: setup $(INTEROP_STAMP)
	$(BIN)/python benchmarks/interop/run_lagrangebench.py --lb-python $(INTEROP_VENV)/bin/python --out build/interop

clean:
	rm -rf $(VENV) runs build *.egg-info
