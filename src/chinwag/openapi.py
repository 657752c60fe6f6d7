"""``python -m chinwag.openapi``: print the API contract as one OpenAPI JSON document.

The document is the HTTP API's own spec (as served at /api/openapi.json) with the Socket.IO
payload models added under ``components.schemas``, so that the web app's types for both
transports are generated from the server (``npm run gen:api`` in frontend/).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chinwag import schemas
from chinwag.config import Settings

# The error envelope, then the Socket.IO payloads: client -> server, then server -> client
# (see realtime/namespace.py).
SOCKET_MODELS: tuple[type[BaseModel], ...] = (
    schemas.ErrorOut,
    schemas.RoomRef,
    schemas.SendMessage,
    schemas.TypingUpdate,
    schemas.UserSearch,
    schemas.MessageOut,
    schemas.TypingEvent,
    schemas.PresenceEvent,
    schemas.RoomDestroyedEvent,
    schemas.RoomLeftEvent,
    schemas.UserUpdatedEvent,
)


def http_spec() -> dict[str, Any]:
    """The FastAPI app's OpenAPI document, built in a throwaway data directory."""
    from chinwag.app import create_app

    with tempfile.TemporaryDirectory(prefix="chinwag-openapi-") as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key=None, environment="development")
        spec = create_app(settings).api.openapi()
    return spec


def build_spec() -> dict[str, Any]:
    """The HTTP spec plus every Socket.IO payload model as a component schema."""
    spec = http_spec()
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    _, extra = models_json_schema(
        [(model, "serialization") for model in SOCKET_MODELS],
        ref_template="#/components/schemas/{model}",
    )
    for name, schema in extra.get("$defs", {}).items():
        components.setdefault(name, schema)
    return spec


def main() -> int:
    json.dump(build_spec(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
