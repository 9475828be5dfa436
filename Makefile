# Two commands do all set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench eval eval-cases eval-blind clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## create .venv, install, and swap the bundled sample faces (writes out/demo_swap.png)
demo: $(STAMP)
	$(BIN)/faceweave demo --output out

## lint (ruff), type-check (mypy --strict) and the default test suite
test: $(STAMP) lint
	$(BIN)/pytest -q -m "not slow"

## also the slow end-to-end suites over ../shared/testdata
test-all: $(STAMP) lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check faceweave tests tools
	$(BIN)/ruff format --check faceweave tests tools
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/faceweave bench

eval: $(STAMP)
	$(BIN)/faceweave eval --images ../shared/testdata/images --output out/eval

## issue 7 cases: yaw buckets (photos + clips), small faces (48/64/96 px), occluded faces; sheets in out/eval-cases/cases
eval-cases: $(STAMP)
	$(BIN)/faceweave eval --images ../shared/testdata/images --videos ../shared/testdata/video \
		--cases yaw,small,occluded --case-sources obama_01.jpg,rose_leslie_02.jpg,alex_lacamoire_01.jpg \
		--output out/eval-cases

## blind realism: A/B sheets (real photo vs swap) for a rater in out/blind/sheets, the key in out/blind/key.json;
## score the rater's answers with  faceweave eval --score-blind out/blind/key.json ratings.jsonl
eval-blind: $(STAMP)
	$(BIN)/faceweave eval --blind --images ../shared/testdata/images --videos ../shared/testdata/video --output out/blind

clean:
	rm -rf $(VENV) out *.egg-info .mypy_cache .ruff_cache .pytest_cache
