# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint format install bench messages translations clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "action-widget needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,postgres,redis,pdf]"
	@touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python demo/serve.py

test: $(INSTALLED) lint
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Extract the interface's strings and merge them into every catalog; then translate the .po files
# and run `make translations` (the compiled .mo files are committed, so a wheel carries them).
messages: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --omit-header \
		-o widget/translations/messages.pot .
	$(BIN)/pybabel update -i widget/translations/messages.pot -d widget/translations

translations: $(INSTALLED)
	$(BIN)/pybabel compile -d widget/translations --statistics

bench: $(INSTALLED)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
