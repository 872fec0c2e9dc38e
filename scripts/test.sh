#!/usr/bin/env bash
# The whole test suite, from a fresh machine: Debian tools, venv, lint, types, layers, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/debian-tools.sh
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy"; mypy
echo "== import-linter"; lint-imports --no-cache >/dev/null && echo "layers ok"
echo "== pytest"
exec pytest "$@"
