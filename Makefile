# Accord — `make demo` runs the main job, `make test` runs the whole suite; both from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# The test suite runs its own broker on other ports and in its own data directory, so a demo
# broker on 9092 is left alone.
TEST_ENV := KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 ACCORD_DATA_DIR=$(CURDIR)/.accord/test \
            ACCORD_TEST_DATABASE_URL=postgresql://accord@127.0.0.1:15432/accord

.PHONY: all demo test bench unit lint venv jars broker-start broker-stop topics catalogue k8s simulate clean distclean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,train]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

jars: $(STAMP)
	@$(BIN)/accord broker fetch

demo: jars
	$(BIN)/accord demo

test: jars
	@rm -rf .accord/test
	@$(TEST_ENV) $(BIN)/accord broker start
	@deploy/postgres.sh start
	@deploy/tools.sh
	@deploy/browser.sh
	@$(BIN)/ruff check events services projections tests bench && $(BIN)/mypy events services projections; rc=$$?; \
	  if [ $$rc -eq 0 ]; then $(TEST_ENV) $(BIN)/pytest; rc=$$?; fi; \
	  $(TEST_ENV) $(BIN)/accord broker stop; deploy/postgres.sh stop; exit $$rc

# Replays all 8,967 CFPB complaints of ../shared/data through the services (dated in their own
# history) and checks the report against the CSV. Uses its own data directory.
CFPB ?= ../shared/data/cfpb_sample.csv
SIM_ENV := ACCORD_CLOCK=message ACCORD_DATA_DIR=$(CURDIR)/.accord/cfpb
simulate: jars
	@$(SIM_ENV) $(BIN)/accord up
	$(SIM_ENV) $(BIN)/accord simulate --cfpb $(CFPB)
	$(SIM_ENV) $(BIN)/accord report --by overall,channel,category,product,plan,handler --html .accord/cfpb/report.html --csv .accord/cfpb/report.csv --json .accord/cfpb/report.json

# Not part of `make test` (which runs only `python -m bench --smoke`): Accord against the raw
# Kafka baseline on its own broker (BENCH_BOOTSTRAP_SERVERS, default 127.0.0.1:39092).
bench: jars
	$(BIN)/python -m bench

unit: $(STAMP)
	$(BIN)/pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check events services projections tests bench
	$(BIN)/mypy events services projections

broker-start: jars
	$(BIN)/accord broker start

broker-stop: $(STAMP)
	$(BIN)/accord broker stop

topics: $(STAMP)
	$(BIN)/accord topics create

catalogue: $(STAMP)
	$(BIN)/accord catalogue write

# The Kubernetes manifests (deploy/k8s/, docs/deploy.md) after a topic, step or setting changes.
k8s: $(STAMP)
	$(BIN)/accord deploy k8s write

clean:
	-@test -x $(BIN)/accord && $(BIN)/accord broker stop
	rm -rf .accord .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) deploy/.cache deploy/kafka/target *.egg-info
