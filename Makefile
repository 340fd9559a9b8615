# The entry point for everything: `make demo` and `make test` work on a machine that has only
# python3 and make. Each target sets up what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A stamp per extra: reinstall only when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
# Four workers on two cores: most tests wait on daemons and simulators, not on the CPU
# (worksteal keeps a long test from ending the run alone). Tests that measure time or memory
# are marked serial and run afterwards, alone.
PARALLEL := -n 4 --dist worksteal

# Real tools some tests need, from Debian: promtool and the Prometheus server (package
# prometheus), Alertmanager, and Chromium for the status page. Installed once; needs root (CI
# runs as root).
DEBIAN_TOOLS := prometheus prometheus-alertmanager chromium

.PHONY: demo test check fast lint typecheck imports unit bench fmt clean sim tools docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/ggwatch demo

sim: $(RUNTIME_STAMP)
	$(BIN)/ggwatch sim --fleet config/sample-fleet.yaml

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check ggwatch tests bench deploy
	$(BIN)/ruff check ggwatch tests bench deploy

typecheck: $(DEV_STAMP)
	$(BIN)/mypy --strict ggwatch tests bench

imports: $(DEV_STAMP)
	$(BIN)/lint-imports

tools:
	@if command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null \
		&& command -v chromium >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "make tools: missing tools; run as root, or: sudo apt-get install $(DEBIAN_TOOLS)"; \
		exit 1; \
	fi; \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS) >/dev/null

unit: $(DEV_STAMP) tools
	$(BIN)/pytest $(PARALLEL) -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m serial $(PYTEST_ARGS)

test: lint typecheck imports unit

# The fast loop while working: everything static, and the tests not marked slow or serial.
# `make test` (what CI runs) is still everything.
check: lint typecheck imports fast

fast: $(DEV_STAMP)
	$(BIN)/pytest $(PARALLEL) -q -m "not slow and not serial" $(PYTEST_ARGS)

# Slow (minutes at the real quota): not part of `make test`; each prints its figures, and
# bench.scale and bench.targets exit non-zero when a target is missed.
bench: $(DEV_STAMP)
	$(BIN)/python -m bench.sim_scale
	$(BIN)/python -m bench.scan
	$(BIN)/python -m bench.scale --budget 300
	$(BIN)/python -m bench.targets
	$(BIN)/python -m bench.events
	$(BIN)/python -m bench.cost
	$(BIN)/python -m bench.memory

fmt: $(DEV_STAMP)
	$(BIN)/ruff format ggwatch tests bench deploy
	$(BIN)/ruff check --fix ggwatch tests bench deploy

# docs/settings.md from the settings' own fields (a unit test fails when it is stale). --write
# replaces the file only once the text is complete.
docs: $(RUNTIME_STAMP)
	$(BIN)/python -m ggwatch.settings_doc --write docs/settings.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
