# Two commands on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: book test lint bench serve site hub student notebooks clean

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

site: $(VENV)/.book   ## build the book as static HTML in ukva-site/
	$(VENV)/bin/ukva site --out ukva-site

# A local JupyterHub with two test users (deploy/jupyterhub); its proxy comes from the npm registry.
HUB_PROXY := $(VENV)/npm/node_modules/.bin/configurable-http-proxy

$(VENV)/.hub: $(VENV)/.book
	$(PY) -m pip install --quiet -e '.[hub]'
	@touch $@

$(HUB_PROXY): | $(PY)
	npm install --no-audit --no-fund --loglevel=error --prefix $(VENV)/npm configurable-http-proxy@5

hub: $(VENV)/.hub $(HUB_PROXY)  ## JupyterHub on http://127.0.0.1:8000 (users ada, brian)
	mkdir -p $(VENV)/hub
	UKVA_HUB_PROXY=$(abspath $(HUB_PROXY)) UKVA_HUB_STATE=$(abspath $(VENV))/hub \
	UKVA_HUB_HOMES=$(abspath $(VENV))/hub/homes $(VENV)/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

test: $(VENV)/.test   ## set up, lint (ruff) and run the whole suite
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(VENV)/.test   ## ruff, as configured in pyproject.toml
	$(PY) -m ruff check .

bench: $(VENV)/.test  ## run the benchmark harness
	$(PY) benchmarks/run.py

student: $(VENV)/.book  ## regenerate the student exercise notebooks
	$(VENV)/bin/ukva student

clean:
	rm -rf $(VENV) artifacts .pytest_cache .hypothesis ukva-site

notebooks: $(VENV)/.test  ## re-execute and store the chapters and solution notebooks
	$(PY) -m ukva_widgets.notebook_store notebooks/*.ipynb exercises/solutions/*.ipynb
	$(VENV)/bin/ukva student
