# gdm-jax: two commands do all the set-up on a fresh machine with python3 and pip.
#   make verify   run every claim of the problem set and print the verdict table
#   make test     run the test suite (fails when no test ran)
#   make docs     build the API reference into build/docs (installs the `docs` extra)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gdm-jax-installed
DOCS_STAMP := $(VENV)/.gdm-jax-docs-installed

.PHONY: verify verify-x64 lint test report docs bench bench-accelerator clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,plots]'
	touch $(STAMP)

verify: $(STAMP)
	$(BIN)/gdm-jax verify

verify-x64: $(STAMP)
	$(BIN)/gdm-jax verify --x64

# ruff: pyflakes and pycodestyle errors (configured in pyproject.toml; `ruff check` only, no
# formatter).
lint: $(STAMP)
	$(BIN)/ruff check .

# pytest exits 5 when it collected no test; make treats any non-zero status as failure. Two
# processes (pytest-xdist), whole files to each, so a file's module fixtures run once: most of a
# test's time is XLA compiling on one core, and CI has two.
test: lint $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests

report: $(STAMP)
	$(BIN)/gdm-jax report --out report

$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

# The API reference (sources in docs/api) -> build/docs/index.html; any Sphinx warning fails it.
# -E: a fresh environment each time, so a changed docstring is read again (about 10 s).
docs: $(STAMP) $(DOCS_STAMP)
	$(BIN)/python -m sphinx -b html -E -W --keep-going -q docs/api build/docs

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

# every benchmark at GPU-sized settings (about 8 minutes on one GPU; runs unchanged on a CPU)
bench-accelerator: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	PYTHON=$(BIN)/python benchmarks/accelerator.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
