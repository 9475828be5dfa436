# Two commands do all set-up on a fresh machine:  make demo  and  make test
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all test-browser lint bench eval eval-cases eval-blind smoke-py312 clean image image-cuda

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11) on PATH"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# the neural models' reference code for tests/models/test_reference_parity.py; --no-deps: see pyproject's dev list
	$(BIN)/pip install --quiet --no-deps insightface==2.1
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

## the web UI in real Chromium (Playwright, no browser download): each test skips without a Chromium binary
## (Debian: apt-get install chromium); axe-core comes from npm into .cache/axe when npm is there, else its check skips
AXE_JS := .cache/axe/node_modules/axe-core/axe.min.js
test-browser: $(STAMP)
	@[ -f $(AXE_JS) ] || ! command -v npm >/dev/null || npm install --silent --no-audit --no-fund --prefix .cache/axe axe-core@4 >/dev/null 2>&1 \
		|| echo "test-browser: could not install axe-core from npm; the accessibility check skips"
	FACEWEAVE_AXE_JS=$(AXE_JS) $(BIN)/pytest -q -m slow -rs tests/service/test_ui_browser.py

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
	rm -rf $(VENV) .venv312 .cache out *.egg-info .mypy_cache .ruff_cache .pytest_cache

## Python 3.12: a fresh venv with the base install, and the CLI, pipeline and media tests (CI runs it after `test`)
SMOKE_312 := tests/test_cli.py tests/test_pipeline.py tests/test_selection.py tests/test_no_clobber.py \
	tests/test_truncated_video.py tests/test_runtime.py tests/media
smoke-py312:
	@py=$$(command -v python3.12 >/dev/null && python3.12 -c '' 2>/dev/null && echo python3.12); \
	if [ -z "$$py" ] && command -v pyenv >/dev/null; then \
		v=$$(pyenv versions --bare | grep '^3\.12' | tail -1); [ -n "$$v" ] && py="env PYENV_VERSION=$$v python3.12"; fi; \
	if [ -z "$$py" ]; then echo "smoke-py312: no Python 3.12 on this machine; skipped"; exit 0; fi; \
	$$py -m venv .venv312 && .venv312/bin/pip install --quiet --upgrade pip && \
	.venv312/bin/pip install --quiet -e . pytest 'scikit-image>=0.22,<0.26' && \
	.venv312/bin/python -m pytest -q -m "not slow" $(SMOKE_312)

## container images (docker, or podman where there is no daemon; docs/deploy.md): faceweave:cpu and faceweave:cuda
image:
	tools/build_image.sh

image-cuda:
	tools/build_image.sh --cuda
