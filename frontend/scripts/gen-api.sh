#!/bin/sh
# Regenerates src/api/schema.d.ts from the server's OpenAPI document (HTTP routes plus the
# Socket.IO payload models). Needs the Python environment: ../.venv, or $PYTHON.
set -eu
cd "$(dirname "$0")/.."
python=${PYTHON:-../.venv/bin/python}
mkdir -p node_modules/.cache
"$python" -m chinwag.openapi > node_modules/.cache/openapi.json
npx openapi-typescript node_modules/.cache/openapi.json -o src/api/schema.d.ts
