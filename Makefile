# Isthmus — `make demo` runs the embedded demo, `make test` runs the whole test suite.
# Each target creates what it needs: the project's virtual environment (.venv) and, for the
# tests, one virtual environment per real model server (.venv-peers/*), whose web stacks conflict,
# and one with Isthmus beside tritonclient[all] and kserve at the lowest protobuf/grpcio (.venv-clients).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
PEERS  := .venv-peers
PEER_NAMES := kserve mlserver ray
CLIENTS := .venv-clients
PORT   ?= 8080
PYTEST_ARGS ?=

.PHONY: demo test test-unit peers clients venv bench lint clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv

# xds-protos ships its own, older copy of opentelemetry/proto/*: whichever package is written last
# wins, and with xds-protos' copy the OTLP exporters fail to import. So opentelemetry-proto is
# reinstalled after every project install (tests/telemetry/test_otlp.py checks it: test_every_opentelemetry_proto_file_on_disk_is_opentelemetry_protos_own, test_the_exporters_import).
OTEL_PROTO_FIX = $(UV) pip install --quiet --python $(BIN)/python --reinstall-package opentelemetry-proto opentelemetry-proto

$(VENV)/.installed: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e .
	$(OTEL_PROTO_FIX)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(BIN)/python -e '.[test]'
	$(OTEL_PROTO_FIX)
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/isthmus demo --port $(PORT)

peers: | $(UV)
	@for p in $(PEER_NAMES); do PATH="$(abspath $(BIN)):$$PATH" bash tests/peers/build.sh $$p $(PEERS)/$$p || exit 1; done

# Isthmus installed beside the ecosystem's clients (tests/clients/build.sh; reused while its stamp matches)
clients: | $(UV)
	PATH="$(abspath $(BIN)):$$PATH" bash tests/clients/build.sh $(CLIENTS)

test: $(VENV)/.installed-test peers clients
	$(BIN)/lint-imports --no-logo  # the layers' contracts (pyproject.toml [tool.importlinter])
	ISTHMUS_PEERS_DIR="$(abspath $(PEERS))" ISTHMUS_CLIENTS_VENV="$(abspath $(CLIENTS))" \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

# Unit tests only: no model-server peers needed.
test-unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not peers" $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check isthmus tests bench
	$(BIN)/lint-imports --no-logo

# Benchmarks (reports, never tests): direct vs Isthmus vs Envoy vs nginx vs a naive proxy.
# See docs/benchmarks.md; results land in bench/results/.
bench: $(VENV)/.installed
	bash bench/run.sh $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(PEERS) $(CLIENTS) .venv-protoc .pytest_cache
