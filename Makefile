# The two commands a newcomer runs (README): `make demo` and `make test`.
.PHONY: demo test setup bench faults eval clean

DB ?= cruxlab.duckdb
VIDEO ?= data/climbing/warp-fixed-input.mp4

# Set up .venv, analyse the bundled climbing clip into $(DB), render the overlay, open the dashboard.
demo:
	scripts/demo.sh "$(VIDEO)" "$(DB)"

# Set up everything the tests need (extras, Label Studio venv, headless Chromium) and run the whole suite.
test:
	scripts/test.sh

setup:
	scripts/setup.sh dev

bench:
	.venv/bin/python -m benchmarks

# Bad inputs, kill -9 points and concurrent writers against a real store (benchmarks/fault_run.py, ~10 min).
faults:
	.venv/bin/python -m benchmarks.fault_run

eval:
	.venv/bin/cruxlab moves eval

clean:
	rm -rf artifacts cache .pytest_cache
