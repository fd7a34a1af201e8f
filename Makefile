# certward — one command to serve, one to test. Everything is installed by these targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= certward-data

.PHONY: setup system-deps serve test lint typecheck bench bench-quick profile screenshots clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	@bash scripts/install-system-deps.sh

setup: $(BIN)/.installed system-deps

## serve: set up and run certward on the embedded SQLite default (data in ./$(DATA))
serve: setup
	bash scripts/serve.sh $(DATA)

lint: setup
	$(BIN)/ruff check certward tests bench fuzz
	$(BIN)/ruff format --check certward tests bench fuzz

typecheck: setup
	$(BIN)/mypy

## test: set up and run every check and test (PostgreSQL tests run when 127.0.0.1:5432 answers)
test: lint typecheck
	bash scripts/run-tests.sh

## bench: the benchmark suite with side-by-side references (~30 min on a quiet 2-core machine)
##        -> docs/benchmarks.md and its charts docs/benchmarks/*.png
bench: setup
	$(BIN)/python bench/run.py

## bench-quick: the same with smaller sizes and shorter runs (a few minutes; same outputs)
bench-quick: setup
	$(BIN)/python bench/run.py --quick

## profile: where a served request's CPU goes (py-spy), into docs/benchmarks/profiles.md
profile: setup
	$(BIN)/python bench/profile_server.py all --out docs/benchmarks/profiles.md

## screenshots: every web console page, seeded, in Debian's chromium -> docs/screenshots/*.png
screenshots: setup
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
