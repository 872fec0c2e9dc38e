#!/usr/bin/env bash
# Starts posthouse on the embedded default: SQLite store and a self-signed TLS certificate
# in ./posthouse-data (created on first run, with the domain example.test and a first user).
# Extra arguments go to `posthouse serve` (see `posthouse serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/posthouse serve --data-dir "${POSTHOUSE_DATA:-./posthouse-data}" "$@"
