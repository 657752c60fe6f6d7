"""``python -m chinwag.openapi`` and the frontend's generated types built from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chinwag.events import CLIENT_EVENTS, SERVER_EVENTS, ErrorAck
from chinwag.openapi import build_spec

FRONTEND = Path(__file__).resolve().parents[1] / "frontend"
SCHEMA_TS = FRONTEND / "src" / "api" / "schema.d.ts"


def test_the_spec_has_every_route_and_the_socket_catalog() -> None:
    spec = build_spec()
    assert "/api/rooms/{code}/messages" in spec["paths"]
    assert "/api/session" in spec["paths"]
    schemas = spec["components"]["schemas"]
    models = [ErrorAck, *SERVER_EVENTS.values()]
    for request, ack in CLIENT_EVENTS.values():
        models += [request, ack]
    for model in models:
        assert model.__name__ in schemas
    assert set(schemas["ServerEvents"]["properties"]) == set(SERVER_EVENTS)
    client = schemas["ClientEvents"]["properties"]
    assert set(client) == set(CLIENT_EVENTS)
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in ("EnterAck", "ErrorAck")]
    assert client["room:enter"]["properties"]["ack"] == {"oneOf": refs}
    assert all("{path}" not in path for path in spec["paths"]), "the web app's catch-all leaked"


def test_the_module_prints_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chinwag.openapi"], check=True, capture_output=True, timeout=60
    ).stdout
    assert json.loads(out)["info"]["title"] == "Chinwag"


def test_the_module_prints_json_with_allowed_hosts_set() -> None:
    """The host allow-list wraps the app; the spec is still the FastAPI app's (issue 6, #18)."""
    env = {**os.environ, "CHINWAG_ALLOWED_HOSTS": "chat.example.org"}
    result = subprocess.run(
        [sys.executable, "-m", "chinwag.openapi"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "/api/rooms/{code}/messages" in json.loads(result.stdout)["paths"]


def test_the_committed_frontend_types_match_the_spec(tmp_path: Path) -> None:
    """Regenerate with ``npm run gen:api`` in frontend/ when this fails."""
    assert (FRONTEND / "node_modules" / ".bin" / "openapi-typescript").exists(), (
        "the web app's dev tools are missing: run `npm ci` in frontend/ (scripts/setup --test)"
    )
    fresh = tmp_path / "schema.d.ts"
    subprocess.run(
        ["sh", str(FRONTEND / "scripts" / "gen-api.sh"), str(fresh)],
        env={**os.environ, "PYTHON": sys.executable},
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert fresh.read_text() == SCHEMA_TS.read_text(), (
        "frontend/src/api/schema.d.ts is stale: run `npm run gen:api` in frontend/"
    )
