#!/usr/bin/env bash
# The README's main command: run certward's mutual-TLS HTTPS service on the embedded
# SQLite default. A fresh data dir is bootstrapped (master keys, CAs, server certificate,
# admin identity in DATA/admin/) and a ready-to-paste curl line is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-certward-data}"
exec .venv/bin/certward --data-dir "$DATA" serve --host "${CERTWARD_HOST:-127.0.0.1}" --port "${CERTWARD_PORT:-8443}"
