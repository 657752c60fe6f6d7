"""``python -m chinwag.openapi``: print the API contract as one OpenAPI JSON document.

The document is the HTTP API's own spec (as served at /api/openapi.json) with the Socket.IO
catalog (``chinwag.events.catalog_schema``: every event's payload, request and ack models,
and the ``ServerEvents`` / ``ClientEvents`` maps by event name) added under
``components.schemas``, so that the web app's types for both transports are generated from
the server (``npm run gen:api`` in frontend/).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from chinwag.config import Settings
from chinwag.events import catalog_schema


def http_spec() -> dict[str, Any]:
    """The FastAPI app's OpenAPI document, built in a throwaway data directory."""
    from chinwag.app import create_app

    with tempfile.TemporaryDirectory(prefix="chinwag-openapi-") as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key=None, environment="development")
        spec = create_app(settings).api.openapi()
    return spec


def build_spec() -> dict[str, Any]:
    """The HTTP spec plus the Socket.IO catalog as component schemas."""
    spec = http_spec()
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in catalog_schema("#/components/schemas/{model}").items():
        components.setdefault(name, schema)  # a model both use (MessageOut) is described once
    return spec


def main() -> int:
    json.dump(build_spec(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
