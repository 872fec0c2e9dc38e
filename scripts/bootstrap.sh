#!/usr/bin/env bash
# Creates .venv and installs posthouse (editable) with pinned dependencies.
# Usage: scripts/bootstrap.sh [dev]   ("dev" adds the test and lint tools)
# Idempotent: re-installs only when pyproject.toml changed since the last run.
#
# The interpreter: $PYTHON if set; else Debian's /usr/bin/python3.11 when it can make a venv
# (Debian builds it with profile-guided and link-time optimisation: posthouse's event loop
# needs 20-50% less CPU on it than on an unoptimised source build such as pyenv's default,
# see docs/BENCHMARKS.md); else python3. A .venv made by another interpreter is made anew.
set -euo pipefail
# The venv must be readable by the service user serve drops to: a caller's private umask
# (posthouse's own CLI sets 077) would leave the editable install's .pth owner-only.
umask 022
cd "$(dirname "$0")/.."
extra="${1:-}"
debian=/usr/bin/python3.11
if [ -n "${PYTHON:-}" ]; then
    py="$PYTHON"
elif [ -x "$debian" ] && "$debian" -c 'import ensurepip, venv' 2>/dev/null; then
    py="$debian"
else
    py=python3
fi
want="$(readlink -f "$(command -v "$py")")"
if [ -x .venv/bin/python ] && [ "$(cat .venv/.posthouse-python 2>/dev/null)" != "$want" ]; then
    rm -rf .venv  # made by another interpreter (or before this check existed)
fi
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
    echo "$want" > .venv/.posthouse-python
fi
stamp=".venv/.posthouse-installed-${extra:-run}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    if [ "$extra" = "dev" ]; then
        .venv/bin/python -m pip install --quiet -e '.[dev]'
    else
        .venv/bin/python -m pip install --quiet -e .
    fi
    touch "$stamp"
fi
# The Node client of the interop tests (tests/interop/test_imapflow.py), from the lock file.
flow=tests/interop/imapflow
if [ "$extra" = "dev" ] && command -v npm >/dev/null \
        && { [ ! -d "$flow/node_modules" ] || [ "$flow/package-lock.json" -nt "$flow/node_modules" ]; }; then
    npm ci --prefix "$flow" --no-audit --no-fund --silent && touch "$flow/node_modules"
fi
