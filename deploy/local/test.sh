#!/usr/bin/env bash
# The test command: installs everything, lints and type-checks, starts the local stack
# (Kafka, Temporal dev server, Postgres) if it is not running, and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
deploy/local/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layering contracts in pyproject.toml
.venv/bin/tongban stack up
.venv/bin/pytest -q "$@"
