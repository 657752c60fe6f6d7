# The two commands a newcomer needs: `make run` and `make test`. See README.md.
.PHONY: run test check bench setup setup-test clean

run: setup
	.venv/bin/chinwag serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

test: setup-test
	bash scripts/test

check: setup-test
	bash scripts/check

# every benchmark against Chinwag and the Node socket.io reference (minutes; see
# docs/performance.md); `make bench BENCH_ARGS=--quick` for a smoke run
bench:
	bash scripts/bench $(BENCH_ARGS)

setup:
	bash scripts/setup

setup-test:
	bash scripts/setup --test

clean:
	rm -rf .venv frontend/node_modules frontend/dist src/chinwag/static
