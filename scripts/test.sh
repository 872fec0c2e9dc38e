#!/usr/bin/env bash
# The whole test suite, from a fresh machine: Debian tools, venv, lint, types, layers, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/debian-tools.sh
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check src tests bench
echo "== mypy"; mypy
echo "== import-linter"
# Not "lint-imports && echo ok": set -e ignores a failure on the left of &&.
if ! layers="$(lint-imports --no-cache 2>&1)"; then echo "$layers"; exit 1; fi
echo "layers ok"
echo "== pytest"
# tests/fuzz runs with its short fuzz-ci profile; POSTHOUSE_FUZZ=long for long runs (README).
exec pytest "$@"
