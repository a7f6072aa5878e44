# Two commands do everything on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCALES := bot/locales
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(LOCALES)/*/LC_MESSAGES/renovote.po))

.PHONY: install run test lint unit i18n bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Compile the gettext catalogues (never committed compiled).
$(LOCALES)/%/LC_MESSAGES/renovote.mo: $(LOCALES)/%/LC_MESSAGES/renovote.po $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -D renovote -d $(LOCALES) -l $*

install: $(STAMP) $(MO_FILES)

# The bot from config.toml; with no Telegram token configured, the local sandbox (web chat + demo).
run: install
	$(VENV)/bin/renovote db upgrade
	$(VENV)/bin/renovote run --sandbox-without-token

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install lint
	$(PY) -m pytest

# Re-extract messages after changing texts; then translate the new zh_CN entries.
i18n: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k _ -k n:1,2 --no-location --sort-output \
		--project renovote -o $(LOCALES)/renovote.pot voting bot
	$(VENV)/bin/pybabel update -D renovote -i $(LOCALES)/renovote.pot -d $(LOCALES) \
		--ignore-obsolete --no-fuzzy-matching --width 120

bench: install
	$(PY) benchmarks/tally_bench.py
	$(PY) benchmarks/reminder_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find $(LOCALES) -name '*.mo' -delete
