# bfl-mock: everything installs into .venv (created on demand); nothing global is assumed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install serve test test-ui screenshots chromium lint contract contract-live bench bench-prism soak fuzz attack smoke wheel-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

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

# ruff (lint and format) on everything, mypy --strict on the package (config in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check mock_server tests tests_ui contract_tests scripts
	$(VENV)/bin/ruff format --check mock_server tests tests_ui contract_tests scripts
	$(VENV)/bin/mypy

contract: $(STAMP)
	BFL_CONTRACT_EXAMPLES=3000 BFL_CONTRACT_ENDPOINT_EXAMPLES=1000 BFL_CONTRACT_PROPERTY_EXAMPLES=50 $(PY) scripts/pytest_strict.py -q contract_tests $(PYTEST_ARGS)

# Against the real API: only free calls unless BUDGET=N allows N paid submits (key from BFL_API_KEY).
contract-live: $(STAMP)
	$(VENV)/bin/bfl-mock contract --target live --budget $(or $(BUDGET),0) --report reports/contract-live.md $(ARGS)

wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(echo "make bench needs wrk (Debian package 'wrk')"; exit 1)

bench: $(STAMP) wrk
	$(PY) scripts/bench.py $(ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
