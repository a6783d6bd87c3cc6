# Every command the README names. The venv is built on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := local,train,gemini,postgres,dev
# test-latest: a second venv with the newest release of every dependency that resolves
LATEST := .venv-latest
LBIN := $(LATEST)/bin

.PHONY: install demo test test-slow test-latest lint format bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# a CPU build of torch first, so that the [local] extra installs nothing more
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m swirl_agents.demo

test: $(STAMP)
	$(BIN)/pytest -q

test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# Dependency drift: every dependency upgraded to its newest release (re-resolved on each run;
# torch stays the CPU build 2.13.0, since an open torch range pulls the CUDA builds), the
# versions that differ from .venv printed, then the tests. .venv itself is left as it is.
test-latest:
	test -d $(LATEST) || $(PY) -m venv $(LATEST)
	$(LBIN)/pip install -q --upgrade pip
	echo 'torch==2.13.0' > $(LATEST)/constraints.txt
	$(LBIN)/pip install -q torch==2.13.0
	$(LBIN)/pip install -q --upgrade --upgrade-strategy eager -c $(LATEST)/constraints.txt -e '.[$(EXTRAS)]'
	$(LBIN)/pip check
	$(LBIN)/python .ci/version_drift.py $(VENV) $(LATEST)
	$(LBIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info
