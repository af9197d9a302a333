# The README's two commands are `make app` and `make test`; both set up .venv first (idempotent).
# `make test-fast` is the edit-test loop. Tools run from the venv by path, so nothing needs activating.
#   make app ARGS="--task my_task.json --set robot.payload_kg=3"
#   make test PYTEST_ARGS="tests/app -x"      VENV=/other/venv make test

VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
PYTEST_ARGS ?=
# Which tests by marker: all for `make test` (and CI), `-m "not slow"` for `make test-fast`.
PYTEST_MARKS ?=
# Under CI, one line per ruff finding keeps the log readable.
RUFF_ARGS := $(if $(filter true,$(CI)),--output-format=concise,)

.PHONY: setup app test test-fast lint typecheck importcheck pytest

setup:
	@VENV="$(VENV)" bash scripts/setup.sh

app: setup
	$(BIN)/sim2adapt gui $(ARGS)

# --keep-going: every check runs and reports even when an earlier one failed; make still fails.
test: setup
	@$(MAKE) --no-print-directory --keep-going lint typecheck importcheck pytest

# The edit-test loop: ruff and every test not marked slow (a slow test takes over ~2 s). Measured:
# 68 s (480 tests; pytest 64 s) on the 2-core VM while two training runs shared it. CI runs everything.
test-fast: setup
	@$(MAKE) --no-print-directory --keep-going lint pytest PYTEST_MARKS='-m "not slow"'

lint:
	$(BIN)/ruff check $(RUFF_ARGS) .

typecheck:
	$(BIN)/mypy sim agents app

importcheck:
	$(BIN)/lint-imports

# pytest's exit code 5 means it collected no test: a failure, with a line saying so.
# --durations=15 names the slowest tests at the end of every run, so a test that grows slow is seen.
pytest:
	@$(BIN)/pytest --durations=15 $(PYTEST_MARKS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; fi; \
	exit $$rc
