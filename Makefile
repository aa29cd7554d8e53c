# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# setuptools tells, as a warning, that every editable install of a package whose folder has
# another name (src/ installs as chat_server) is served by an import hook; nothing to act on.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip --disable-pip-version-check -q
DEBIAN_TEST_PACKAGES := redis-server chromium fonts-liberation

.PHONY: run test install install-test system-deps lint unit integration bench screenshot clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## Start the service on its embedded default: in-memory storage, development mode.
run: install
	$(VENV)/bin/chat-server

## Debian packages the tests need (Redis, Chromium); installed only when missing.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium fonts-liberation"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint: install-test
	$(VENV)/bin/ruff check
	@mkdir -p .typecheck && ln -sfn ../src .typecheck/chat_server
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p chat_server
	$(VENV)/bin/lint-imports

unit: install-test
	$(VENV)/bin/pytest -q tests/unit

integration: install-test system-deps
	$(VENV)/bin/pytest -q tests/integration

## Everything CI runs: lint, layering, unit and integration tests.
test: system-deps install-test
	$(VENV)/bin/ruff check
	@mkdir -p .typecheck && ln -sfn ../src .typecheck/chat_server
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p chat_server
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q tests

screenshot: system-deps install-test
	CHAT_SCREENSHOT_TO=docs/demo.png $(VENV)/bin/pytest -q -m browser tests/integration

bench: install-test
	bash benchmarks/run.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache test-artifacts
