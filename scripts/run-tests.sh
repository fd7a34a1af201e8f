#!/usr/bin/env bash
# Runs the test suite on two workers; "no tests collected" (pytest exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -n 2 -q "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
