#!/bin/sh
# Regenerates src/api/schema.d.ts (or the file named as the first argument) from the
# server's OpenAPI document: the HTTP routes plus the Socket.IO catalog (every event's
# payload, request and ack). Needs the Python environment: ../.venv, or $PYTHON. A field
# with a default that the schema does not list as required (an optional request field, an
# ack's `retry_after`) stays optional. tests/test_openapi.py fails when the committed file
# differs from what this writes.
set -eu
cd "$(dirname "$0")/.."
python=${PYTHON:-../.venv/bin/python}
out=${1:-src/api/schema.d.ts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m chinwag.openapi > "$work/openapi.json"
npx --no-install openapi-typescript "$work/openapi.json" --default-non-nullable=false -o "$out"
