# mlsys-kit: every target installs what it needs first (a .venv in the repo).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium
ROOTFLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
NB ?= costs

.PHONY: install demo test test-browser test-fast qa release lab present lock bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), f"mlsys-kit needs Python 3.11, got {sys.version.split()[0]}"'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/mlsys-kit demo

# the browser tests run whenever Debian's chromium is there (CI installs it: .ci/run)
test: install
	@if [ -x "$(CHROMIUM)" ]; then $(BIN)/python -m pytest; else \
	  echo "NOTE: no $(CHROMIUM): browser tests not run (apt-get install chromium; then make test-browser)"; \
	  $(BIN)/python -m pytest -m "not browser"; fi

test-browser: install
	MLSYS_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m browser

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

qa: install
	$(BIN)/mlsys-grade qa --sample all --nbgrader-mutants

release: install
	$(BIN)/mlsys-grade release --all

# JupyterLab on the repo (labs/ and notebooks/), started in labs/ so nbgrader's extensions
# (assignment list, formgrader, create assignment) work on the course there; the course's Jupyter
# configuration (labs/jupyter-config: no news toast, no update check) comes first on the config path
lab: install
	cd labs && JUPYTER_CONFIG_PATH=$(CURDIR)/labs/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  ../$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ROOTFLAG)

# a lecture demo as an app, code hidden (Voila): make present NB=costs
present: install
	$(BIN)/voila notebooks/$(NB).ipynb

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

# re-resolve the full pin set after changing a direct pin in pyproject.toml
lock:
	rm -rf /tmp/mlsys-lock && $(PYTHON) -m venv /tmp/mlsys-lock
	/tmp/mlsys-lock/bin/pip install --quiet '.[test]'
	{ echo "# Full pinned environment of the course (every transitive package)."; \
	  echo "# Regenerate with: make lock   (after changing a pin in pyproject.toml)"; \
	  echo "torch==2.13.0"; \
	  /tmp/mlsys-lock/bin/pip freeze --exclude-editable | grep -v -E '^(torch|mlsys-kit)[= ]'; } > constraints.txt

clean:
	rm -rf out build *.egg-info
