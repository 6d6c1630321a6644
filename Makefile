# Two commands on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test bench serve student notebooks clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "ukva_widgets needs Python 3.10 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.book: $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.test: $(VENV)/.book
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

book: $(VENV)/.book   ## set up and open the book in JupyterLab
	$(VENV)/bin/ukva book

serve: $(VENV)/.book  ## serve the chapters as Voila apps
	$(VENV)/bin/ukva serve

test: $(VENV)/.test   ## set up and run the whole suite
	$(PY) -m pytest

bench: $(VENV)/.test  ## run the benchmark harness
	$(PY) benchmarks/run.py

student: $(VENV)/.book  ## regenerate the student exercise notebooks
	$(VENV)/bin/ukva student

clean:
	rm -rf $(VENV) artifacts .pytest_cache .hypothesis

notebooks: $(VENV)/.test  ## re-execute and store the chapters and solution notebooks
	$(PY) -m ukva_widgets.notebook_store notebooks/*.ipynb exercises/solutions/*.ipynb
	$(VENV)/bin/ukva student
