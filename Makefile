# Everything bootstraps from the machine's own python3: .venv, uv inside it, then the lockfile.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.synced

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup test soak lint fmt run demo bench bench-large clean

setup: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(VENV)/bin/python
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy --strict src

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks scripts
	$(VENV)/bin/ruff check --fix src tests benchmarks scripts

test: lint
	$(VENV)/bin/pytest

# Publishes an encrypted sample database into a temp store, starts the server on a free port,
# runs an encrypted session and a search with the client library, then stops the server.
demo: $(STAMP)
	$(VENV)/bin/python scripts/demo.py

# Heavy reliability variants (docs/reliability.md): 50 concurrent sessions, long leak cycles,
# thousands of fuzz cases per message type and storage format. Takes several minutes.
soak: $(STAMP)
	$(VENV)/bin/pytest -m soak

# The whole environment passes through: every variable of SPEC section 8 applies (defaults
# come from Settings). Runs in the foreground until SIGINT/SIGTERM.
run: $(STAMP)
	exec $(VENV)/bin/s5vec serve

# Benchmarks (docs/benchmarks.md): 1K/10K/100K x 384 and 50 concurrent sessions against the
# real server, with same-run baselines; writes docs/benchmarks.{json,md,png}. Extra options
# go in ARGS, e.g. `make bench ARGS="--sizes 1000,10000 --out-dir /tmp/bench"`.
bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks.run $(ARGS)

# Adds 1M x 384 (raises VECTOR_MEMORY_LIMIT_MB for it); takes well over 10 minutes.
bench-large: $(STAMP)
	$(VENV)/bin/python -m benchmarks.run --large $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
