# The README's two commands are `make app` and `make test`; both set up .venv first (idempotent).
# Tools run from the venv by path, so nothing needs activating.
#   make app ARGS="--task my_task.json --set robot.payload_kg=3"
#   make test PYTEST_ARGS="tests/app -x"      VENV=/other/venv make test

VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
# Under CI, one line per ruff finding keeps the log readable.
RUFF_ARGS := $(if $(filter true,$(CI)),--output-format=concise,)

.PHONY: setup app test lint typecheck importcheck pytest

setup:
	@VENV="$(VENV)" bash scripts/setup.sh

app: setup
	$(BIN)/sim2adapt gui $(ARGS)

# --keep-going: every check runs and reports even when an earlier one failed; make still fails.
test: setup
	@$(MAKE) --no-print-directory --keep-going lint typecheck importcheck pytest

lint:
	$(BIN)/ruff check $(RUFF_ARGS) .

typecheck:
	$(BIN)/mypy sim agents app

importcheck:
	$(BIN)/lint-imports

# pytest's exit code 5 means it collected no test: a failure, with a line saying so.
pytest:
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; \
	exit $$rc
