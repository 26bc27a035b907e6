# skyrelay: `make synth` builds the default spec, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SPEC ?= examples/platform.yaml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: synth test lint install clean

# The stamp depends on pyproject.toml, so a changed dependency list reinstalls.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[aws,azure,gateway,dev]'
	touch $@

install: $(VENV)/.installed

synth: install
	$(BIN)/skyrelay validate $(SPEC)
	$(BIN)/skyrelay plan $(SPEC)

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check skyrelay stacks constructs pulumi policies gateway tests app.py
	$(BIN)/mypy skyrelay

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
