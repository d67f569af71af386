#!/usr/bin/env bash
# The habits CI checks before the tests: ruff lint, ruff format, and mypy (tools/typecheck.py; settings in
# pyproject.toml). Run from a checkout with the test extra installed (.venv, or PYTHON=/path/to/python).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
"$py" -m ruff check .
"$py" -m ruff format --check .
"$py" tools/typecheck.py
