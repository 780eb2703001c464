# Two commands on a fresh machine: `make up` runs Persona Studio, `make test` runs every check.
# Each installs what it needs into .venv first.
.PHONY: setup up test lint typecheck bench

STUDIO_MODEL_PROFILE ?= tiny
export STUDIO_MODEL_PROFILE

setup:
	@scripts/setup.sh

up: setup
	.venv/bin/studio up

lint: setup
	.venv/bin/ruff check .

typecheck: setup
	.venv/bin/mypy

test: setup
	@scripts/services.sh
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/python -m pytest -q -p no:cacheprovider

bench: setup
	.venv/bin/python benchmarks/queue_latency.py
