# One command each: `make setup`, `make up`, `make test`, `make lint`.
# setup is idempotent: Debian packages only when missing, the venv only when pyproject.toml or
# constraints.txt (every Python package pinned, direct and transitive) changed.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# fonts-wqy-microhei: Chinese glyphs for the headless browser (SMS texts in screenshots).
DEB_PACKAGES := clickhouse-server chromium chromium-driver fonts-wqy-microhei
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := $(wildcard kernel channelhub schemas streams sinks dashboards orchestration)

SMSC := tests/orchestration/smsc
SMSC_STAMP := $(SMSC)/node_modules/.installed

.PHONY: setup system-packages up test lint lock screenshots

setup: system-packages $(STAMP) $(SMSC_STAMP)

system-packages:
	@missing=""; \
	for pkg in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES); \
	else \
	  echo "setup: Debian packages present ($(DEB_PACKAGES))"; \
	fi

$(VENV)/bin/python:
	@echo "setup: creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null \
	  || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv $(PYTHON)-venv
	@$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	@echo "setup: installing channelhub and its test dependencies into $(VENV)"
	@$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $@

# After changing a dependency in pyproject.toml: install it, then pin the whole venv again.
lock: | $(VENV)/bin/python
	@$(VENV)/bin/python -m pip install -q -e '.[test]'
	@{ sed -n '1,2p' constraints.txt; $(VENV)/bin/python -m pip freeze --exclude-editable; } \
	  > constraints.txt.new && mv constraints.txt.new constraints.txt

# The SMPP tests run a real SMSC: the npm `smpp` server, pinned by package-lock.json.
$(SMSC_STAMP): $(SMSC)/package-lock.json
	@command -v npm >/dev/null || { echo "setup: installing Node.js and npm"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	@echo "setup: installing the test SMSC ($(SMSC))"
	@npm ci --prefix $(SMSC) --no-audit --no-fund --loglevel=error
	@touch $@

up: setup
	$(VENV)/bin/channelhub up

test: setup
	$(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)

# The README's pictures, from a running stack (`channelhub up --detach` first): one page per
# role, each signed in as that role's development user.
DASHBOARD ?= http://127.0.0.1:18050
SHOT = $(VENV)/bin/python -m dashboards.screenshot
screenshots: setup
	$(SHOT) $(DASHBOARD)/ docs/dashboard.png --user analyst --password dev-analyst
	$(SHOT) $(DASHBOARD)/ivr docs/ivr.png --user analyst --password dev-analyst
	$(SHOT) $(DASHBOARD)/queue docs/queue.png --user ops --password dev-ops
	$(SHOT) $(DASHBOARD)/campaigns docs/campaigns.png --user marketing --password dev-marketing \
		--ready "#marketing-uplift"
