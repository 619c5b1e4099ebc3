# The two commands of the README. Both run ./setup.sh first (idempotent: a
# second run skips finished steps in seconds).
PY := .venv/bin/python
# set-up and the eBPF tests need root: use sudo when not already root (e.g. in the Vagrant VM)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(shell date +%Y%m%d-%H%M%S)

.PHONY: setup lint test test-vm test-perf test-unit test-integration test-spark demo bench clean

setup:
	@$(SUDO) ./setup.sh

# The whole suite runs on the attach path this kernel offers (multi), then the
# integration suite again with the path forced to one perf-event uprobe per
# site (the path of kernels before 6.6: probes/features.py). The guests need no
# second pass: their kernels take the perf path by themselves; nor do the tests
# whose subject is not how probes attach (pictures, packaging, names, escaping,
# the TUI, exports, a hostile ring, segments, live reading, the flight
# recorder's window, the drain's backlog and spill under a flood and their
# recovery after a kill — calls come through the shim's ring either way; containers and injection, whose subject is reach — the
# probes attach by the same paths — and whose perf-path runs the Debian 12
# guest does natively: inject, off-CPU, children): CI's time goes to the rest.
NOT_ATTACH = test_guest test_pictures test_wheel test_names test_escaping test_tui test_travel \
	test_hostile test_segments test_live test_flight test_container test_inject test_flood test_recover
# fifty children and 200 threads: the collector's accounting at scale (the main
# pass); on the perf path it spends 80 s attaching 50 x one link per site, while
# following children there is test_follow's (here and in the 6.1 guest)
PERF_DESELECT = --deselect tests/integration/test_faults.py::test_fifty_children_and_two_hundred_threads_exactly

# ruff's rules and the import contracts (layers, no cycles): pyproject.toml
lint: setup
	$(PY) -m ruff check .
	$(PY) tests/lint_imports.py

test: setup lint
	$(SUDO) env SCOPE_STRICT=1 $(PY) -m pytest tests -q --durations=15
	$(SUDO) env SCOPE_STRICT=1 SCOPE_ATTACH_MODE=perf $(PY) -m pytest -q --durations=15 tests/integration \
		$(foreach t,$(NOT_ATTACH),--ignore=tests/integration/$(t).py) $(PERF_DESELECT)

# The Debian 12 guest on its own (stock 6.1 kernel under QEMU; tests/guest):
# builds its image on first use (cached in /var/cache/scope-guest), runs the smoke tests.
test-vm: setup
	$(SUDO) tests/guest/run-vm.sh /var/cache/scope-guest

test-perf: setup
	$(SUDO) env SCOPE_STRICT=1 SCOPE_ATTACH_MODE=perf $(PY) -m pytest tests/integration -q \
		$(foreach t,$(NOT_ATTACH),--ignore=tests/integration/$(t).py) $(PERF_DESELECT)

# Opt-in: PySpark (local mode) reads a fleet's store as the README lays it out;
# tests/spark/setup.sh puts pyspark in /var/cache/scope-spark/venv (needs Java).
test-spark: setup
	$(SUDO) tests/spark/setup.sh
	$(SUDO) env SCOPE_SPARK=1 $(PY) -m pytest tests/spark -q

test-unit: setup
	$(PY) -m pytest tests/unit -q

test-integration: setup
	$(SUDO) env SCOPE_STRICT=1 $(PY) -m pytest tests/integration -q

# Start the demo service under Debian's python3.11, record it live for 5 s.
demo: setup
	@/usr/bin/python3.11 examples/demo_app.py 30 > /dev/null & pid=$$!; \
	 sleep 0.5; \
	 $(SUDO) scope attach $$pid --duration 5 -o scope-recordings/demo-$(STAMP); rc=$$?; \
	 kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; \
	 echo; echo "try:"; \
	 echo "  scope query --parquet scope-recordings/demo-$(STAMP) --top --file '*demo_app.py'"; \
	 echo "  scope query --parquet scope-recordings/demo-$(STAMP) --kind gc_start --kind import_start"; \
	 echo "  scope query --parquet scope-recordings/demo-$(STAMP) --slowest 5 --file '*demo_app.py'"; \
	 exit $$rc

bench: setup
	$(SUDO) $(PY) -m pytest bench --benchmark-only -q

clean:
	rm -rf .venv scope-recordings .pytest_cache .benchmarks
