# mlsys-kit: every target installs what it needs first (a .venv in the repo).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM ?= /usr/bin/chromium
ROOTFLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
NB ?= costs
# make test runs the suite on two pytest workers (pytest-xdist), each test file whole on one worker
# (a module's shared course or hostile corpus is made once), the longest files first (tests/conftest.py);
# PYTEST_PARALLEL= runs it in one process
PYTEST_PARALLEL ?= -n 2 --dist loadfile --no-loadscope-reorder
ROLE ?= student
ROSTER ?= docs/class/roster.example.csv
CLASS_DIR ?= /srv/mlsys-class
PORT ?= 8000
PROXY := node_modules/.bin/configurable-http-proxy

.PHONY: install proxy demo test test-browser test-fast qa release lab present lock bench clean class class-stop class-remove

install: $(STAMP)

# the class hub's proxy, pinned in package.json / package-lock.json, installed here (never globally)
proxy: $(PROXY)

$(PROXY): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make class needs Node.js and npm (apt-get install nodejs npm) for configurable-http-proxy"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(PROXY)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), f"mlsys-kit needs Python 3.11, got {sys.version.split()[0]}"'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/mlsys-kit demo

# the browser tests run whenever Debian's chromium is there (CI installs it: .ci/run); the class's
# browser test needs the hub's proxy (npm), installed first when npm is there. With chromium, each
# lecture notebook runs once, in JupyterLab, with the checks its headless run would make
# (tests/notebook_checks.py); without it, the notebooks run headless
test: install
	@if [ -x "$(CHROMIUM)" ] && command -v npm >/dev/null; then $(MAKE) --no-print-directory proxy; fi
	@if [ -x "$(CHROMIUM)" ]; then $(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not headless_notebook"; else \
	  echo "NOTE: no $(CHROMIUM): browser tests not run (apt-get install chromium; then make test-browser)"; \
	  $(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not browser"; fi

test-browser: install proxy
	MLSYS_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -m browser

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

qa: install
	$(BIN)/mlsys-grade qa --sample all --nbgrader-mutants

release: install
	$(BIN)/mlsys-grade release --all

# JupyterLab on the repo (labs/ and notebooks/), started in labs/ so nbgrader's extensions work on
# the course there. ROLE=student (the default): the assignment list and Validate; ROLE=instructor:
# also the formgrader, Create Assignment and the course list (labs/jupyter-config/<role>, first on the
# config path, then the course's common part: no news toast, no update check)
lab: install
	@case "$(ROLE)" in student|instructor) ;; *) echo "ROLE must be student or instructor, got '$(ROLE)'"; exit 2;; esac
	cd labs && JUPYTER_CONFIG_PATH=$(CURDIR)/labs/jupyter-config/$(ROLE):$(CURDIR)/labs/jupyter-config$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} \
	  ../$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(ROOTFLAG)

# a class on this machine (as root): JupyterHub on 127.0.0.1:PORT, an account per person of ROSTER
# (ours, Canvas's or Moodle's CSV), the course and the exchange in CLASS_DIR; Ctrl-C stops it and
# keeps the course and the grades (docs/class.md)
class: install proxy
	$(BIN)/mlsys-grade class start --roster $(ROSTER) --dir $(CLASS_DIR) --port $(PORT)

class-stop: install
	$(BIN)/mlsys-grade class stop --dir $(CLASS_DIR)

# deletes the accounts the class made (the course folder stays; mlsys-grade class remove --purge deletes it)
class-remove: install
	$(BIN)/mlsys-grade class remove --dir $(CLASS_DIR)

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
	rm -rf out build *.egg-info node_modules
