# fairseq-hgkd: `make demo` (main job) and `make test` (test suite) set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# CPU build by default; GPU users pick their own: any pip arguments, e.g.
# TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" (then make clean install)
TORCH_SPEC ?= torch==2.13.0
FAIRSEQ_SPEC ?= fairseq-fixed==0.12.3.1
# Multi30K raw files: read from here when set, else the preparer downloads them.
MULTI30K_DIR ?= $(firstword $(wildcard ../shared/data/multi30k))
export MULTI30K_DIR
PYTEST_ARGS ?=

PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --progress-bar off
STAMP := $(VENV)/.hgkd-installed

.PHONY: install test demo clean

DEMO_WORKDIR ?= runs/multi30k_de_en-cpu

install: $(STAMP)

$(STAMP): setup.py requirements/build.txt requirements/runtime.txt requirements/test.txt
	$(PYTHON) -m venv $(VENV)
	@echo "== installing $(TORCH_SPEC), numpy, cython"
	$(PIP_INSTALL) -q $(TORCH_SPEC)
	$(PIP_INSTALL) -q -r requirements/build.txt
	@echo "== building $(FAIRSEQ_SPEC) from source without its dependencies (about 2-3 minutes)"
	$(PIP_INSTALL) -q --no-deps --no-build-isolation "$(FAIRSEQ_SPEC)"
	@echo "== installing fairseq's runtime requirements and fairseq-hgkd"
	$(PIP_INSTALL) -q -r requirements/runtime.txt -r requirements/test.txt
	$(PIP_INSTALL) -q --no-deps --no-build-isolation -e .
	$(PY) -c "import fairseq, torch, fairseq_hgkd; print('fairseq', fairseq.__version__, 'torch', torch.__version__)"
	@touch $@

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

# The main job: the Multi30K DE->EN grid at PRESET=cpu (teacher, 6 students, report) on this machine.
demo: $(STAMP)
	PRESET=cpu WORKDIR="$(DEMO_WORKDIR)" bash recipes/multi30k_de_en.sh
	@echo
	@echo "report:              $(DEMO_WORKDIR)/report.md (and report.json)"
	@echo "reliability diagram: $(DEMO_WORKDIR)/reliability.png"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
