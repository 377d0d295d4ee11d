# The two commands: `make run` (the main job) and `make test` (ruff, mypy, then the whole suite).
# Installs are capped by constraints.txt (exact versions), so CI resolves nothing anew.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.core: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -e . -c constraints.txt
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]' -c constraints.txt
	touch $@ $(VENV)/.core

run: $(VENV)/.core
	$(BIN)/skillbank run --policy expert --split dev

# Lint and type-check first: either one's findings fail the target (pyproject.toml says
# which rules, and why).
test: $(VENV)/.dev
	$(BIN)/ruff check src
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q --durations=15

clean:
	rm -rf $(VENV) .skillbank .mypy_cache .ruff_cache
