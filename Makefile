# The two commands of the README, and the pieces they are made of.
#   make reproduce   set up .venv, then run the whole reproduction (cpu profile, embedded data)
#   make test        set up .venv (with the dev extra and a headless chromium), then the test suite
#   make lint        set up .venv, then ruff's checks and its format check (config in pyproject.toml)
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= cpu
PY      := $(VENV)/bin/python

.PHONY: setup reproduce test lint chromium benchmarks clean-venv fuzz

# torch (afkit accepts torch>=2.2; 2.13.0 is what it is tested with). On Linux PyPI's wheel is
# the CUDA build (several GB): without an NVIDIA GPU (no nvidia-smi) the CPU build is installed
# (+cpu, PyTorch's CPU index), with one PyPI's CUDA build; macOS's wheel is CPU anyway.
# Override: make setup TORCH=torch==2.13.0 TORCH_INDEX=
ifeq ($(shell uname -s)$(shell command -v nvidia-smi >/dev/null 2>&1 && echo gpu),Linux)
TORCH       ?= torch==2.13.0+cpu
TORCH_INDEX ?= --extra-index-url https://download.pytorch.org/whl/cpu
else
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
endif

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_INDEX) '$(TORCH)'
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

reproduce: setup
	$(PY) -m afkit reproduce --profile $(PROFILE)

# The browser tests (the report; JupyterLab via Selenium) need Debian's chromium and chromium-driver;
# install them where we can (root), else those tests skip outside CI.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "chromium not installed: the browser tests will skip (outside CI)"; }

test: setup chromium
	$(PY) -m pytest -q

LINTED := afkit tests benchmarks

lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)

benchmarks: setup
	for b in benchmarks/[!_]*.py; do $(PY) $$b || exit 1; done; $(PY) benchmarks/_results.py --readme

clean-venv:
	rm -rf $(VENV)

# The record parser's property-based fuzz test with a larger budget (CI runs 2000 + 1000 examples)
fuzz: setup
	AFKIT_FUZZ_EXAMPLES=$${AFKIT_FUZZ_EXAMPLES:-50000} $(PY) -m pytest -q tests/io/test_fuzz_records.py
