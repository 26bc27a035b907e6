# skyrelay: `make synth` builds the default spec, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
SPEC ?= examples/platform.yaml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# jsii names end-of-life Node majors it should stay quiet about (CI has Node 20).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20

.PHONY: synth test lint install clean bench soak bench-synth bench-client bench-redis bench-pipeline bench-plan system-packages mutate decision-table

# The stamp depends on pyproject.toml, so a changed dependency list reinstalls.
# constraints.txt holds the versions this repository is tested with (users get the ranges
# of pyproject.toml); a changed constraint reinstalls too.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[aws,azure,gateway,tracing,bench,dev,mutation]'
	touch $@

# The pinned AWS CDK CLI (package.json / package-lock.json) for `skyrelay synth` and `cdk`.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

# Debian packages the tests and benchmarks run for real (redis-server, nginx, wrk, iproute2,
# graphviz for the plan page, chromium for its browser tests): installed when missing, as
# root or through sudo; otherwise one line says how.
system-packages:
	@tools/system-packages

# Templates for every stack of the spec into cdk.out/ (all or nothing), then the checks;
# the plan page (topology, residency, cost; laid out by Graphviz's dot) goes to
# cdk.out/plan.html, and `plan` prints its path.
synth: install
	@tools/system-packages graphviz
	$(BIN)/skyrelay synth $(SPEC)
	$(BIN)/skyrelay validate $(SPEC)
	$(BIN)/skyrelay plan $(SPEC) --html cdk.out/plan.html
	$(BIN)/skyrelay check $(SPEC) --from cdk.out

test: install system-packages
	$(BIN)/pytest

# The gateway's field decision table (front door x field x target kind), generated from
# gateway/hub/fields*.py into docs/ (tests/gateway/hub fails when it is stale).
decision-table: install
	$(PY) -m skyrelay.gateway.hub.fields_doc docs/gateway-field-decisions.md

lint: install
	$(BIN)/ruff check skyrelay stacks constructs pulumi policies gateway tests app.py
	$(BIN)/mypy skyrelay gateway

# Gateway benchmark (issue 9): direct, nginx proxy_pass, skyrelay gateway, LiteLLM on loopback;
# writes bench/results/gateway.{md,json,png}. Installs Debian's nginx and wrk when missing.
# Extra flags: make bench BENCH_ARGS='--duration 5 --levels 1,64'.
bench: install system-packages
	GWBENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
	  $(PY) bench/gateway_bench.py $(BENCH_ARGS)

# The long runs: five minutes of steady load on the gateway (memory at minute 1 and 5 ->
# bench/results/soak.md), then the reliability load test with 20,000 requests at concurrency
# 200 against upstreams failing 10% (make test runs it with 2,000), then spec fuzzing with
# FUZZ_EXAMPLES specs through CDK synth (make test runs 10). LOAD_REQUESTS and FUZZ_EXAMPLES
# override.
LOAD_REQUESTS ?= 20000
FUZZ_EXAMPLES ?= 60
soak: install system-packages
	GWBENCH_COMMAND="make soak$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" \
	  $(PY) bench/gateway_bench.py --soak $(BENCH_ARGS)
	SKYRELAY_LOAD_REQUESTS=$(LOAD_REQUESTS) $(BIN)/pytest -q -s -p no:cacheprovider \
	  tests/reliability/test_load.py
	SKYRELAY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s -p no:cacheprovider \
	  tests/reliability/test_spec_synth_fuzz.py

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache

# Synth benchmark (issue 3): default spec vs an empty CDK app, and growth with 1/10/50
# Bedrock models; writes bench/results/synth.{md,json}.
bench-synth: install
	$(PY) bench/synth/bench_synth.py

# Upstream client benchmark (issue 24): CPU per request of aiohttp's client against the
# gateway's own (providers/http.py), alternated rounds against a loopback nginx.
bench-client: install system-packages
	$(PY) bench/client_choice/run.py

# Redis state benchmark (issue 24): the admit+settle pair of each request through RedisState,
# hiredis's reply parser against redis-py's own; writes bench/results/redis_state.{md,json}.
bench-redis: install system-packages
	GWBENCH_COMMAND="make bench-redis" $(PY) bench/redis_state/run.py

# Request-path benchmark (issue 24): the gateway's ASGI app called in one process (no
# sockets, upstream client answering at once) against a bare ASGI floor; writes
# bench/results/pipeline.{md,json}. A/B: make bench-pipeline PIPELINE_ARGS='--before-ref HEAD~1'.
bench-pipeline: install
	GWBENCH_COMMAND="make bench-pipeline$(if $(PIPELINE_ARGS), PIPELINE_ARGS='$(PIPELINE_ARGS)')" \
	  $(PY) bench/pipeline_bench.py $(PIPELINE_ARGS)

# Plan page benchmark (issue 26): the page with its Graphviz diagram against the same page
# without it, for the default spec and 50 routes; writes bench/results/plan_page.{md,json}.
bench-plan: install
	@tools/system-packages graphviz
	$(PY) bench/plan_page/bench_plan_page.py

# Mutation testing (issue 27): mutmut over the core modules, each against the fast tests
# mapped to it in bench/mutation/mutate.py, one module at a time, at most MUTATE_JOBS worker
# processes; writes bench/results/mutation.md and fails when a module scores under 85 %.
# One module: make mutate MUTATE_ARGS='access'.
MUTATE_JOBS ?= 2
mutate: install
	timeout 1800 $(PY) bench/mutation/mutate.py --max-children $(MUTATE_JOBS) $(MUTATE_ARGS)
