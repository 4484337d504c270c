# pgscore -- top-level targets. The extension itself is built by extension/Makefile
# (PGXS); this file delegates to it and adds the two commands a new machine needs:
#
#   make demo    install what is needed, start a private PostgreSQL, run the demo
#   make test    everything: swift test, pg_regress, the SQL and gateway tests
#   make daemon  the REST gateway binary, .build/release/pgscore (pgscore serve)
#   make fuzz    the libFuzzer targets of fuzz/, FUZZ_SECONDS (300) each
#   make test-upgrade  ALTER EXTENSION UPDATE from each release vs a fresh install
#   make screenshots  refresh the dashboard images the README shows (docs/img/)
#
# and the usual extension targets: make, make install, make installcheck.

SHELL     := /bin/bash
PG_CONFIG ?= pg_config
PYTHON    ?= python3
FUZZ_SECONDS      ?= 300
# the bounded fuzz run inside make test, per target
FUZZ_TEST_SECONDS ?= 30

.PHONY: all install installcheck clean deps cluster demo daemon test test-swift test-fuzz test-regress test-sql test-upgrade bench fuzz screenshots

all:
	$(MAKE) -C extension

install: all
	$(MAKE) -C extension install

# against the server in PGHOST/PGPORT/PGUSER (make test sets them for its own cluster)
installcheck:
	$(MAKE) -C extension installcheck

# the daemon (`pgscore serve`, `pgscore keys`); tests/test_gateway.py runs this binary
daemon:
	swift build -c release --product pgscore

clean:
	$(MAKE) -C extension clean
	rm -rf .build fuzz/.build

deps:
	tools/install_deps.sh

cluster: deps
	tools/pgcluster.sh start

demo: deps install cluster daemon
	tools/demo.sh

test: deps install cluster daemon test-swift test-fuzz test-regress test-sql

test-swift:
	swift test

# fails on any crash; the input is saved in fuzz/.crashes/ and printed as hex
test-fuzz:
	FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) fuzz/run.sh

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

test-regress:
	eval "$$(tools/pgcluster.sh env)" && $(MAKE) -C extension installcheck || \
	  { cat sql/regress/regression.diffs 2>/dev/null | head -n 200; exit 1; }

test-sql:
	eval "$$(tools/pgcluster.sh env)" && $(PYTHON) -m pytest -q -rs tests | tee .pytest.out; \
	  status=$${PIPESTATUS[0]}; [ $$status -eq 0 ] || exit $$status; \
	  ! grep -q " skipped" .pytest.out || { echo "make test: a test was skipped (a missing module is a failure)"; exit 1; }

# the upgrade from every released version alone (also part of test-sql): after a schema
# change, this says what the migration in sql/upgrades/ still misses
test-upgrade: install cluster
	eval "$$(tools/pgcluster.sh env)" && $(PYTHON) -m pytest -q tests/test_upgrade.py

bench: deps install cluster
	tools/bench_foundation.sh

# tests/test_dashboard.py's pages in headless Chromium, the two the README shows copied to docs/img/
screenshots: deps install cluster daemon
	eval "$$(tools/pgcluster.sh env)" && DASHBOARD_SCREENSHOTS=docs/img $(PYTHON) -m pytest -q \
	  tests/test_dashboard.py -k "projects_page or project_page_versions"
