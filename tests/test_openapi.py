"""``python -m chinwag.openapi`` and the frontend's generated types built from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chinwag.openapi import SOCKET_MODELS, build_spec

SCHEMA_TS = Path(__file__).resolve().parents[1] / "frontend" / "src" / "api" / "schema.d.ts"


def test_the_spec_has_every_route_and_the_socket_models() -> None:
    spec = build_spec()
    assert "/api/rooms/{code}/messages" in spec["paths"]
    assert "/api/session" in spec["paths"]
    schemas = spec["components"]["schemas"]
    for model in SOCKET_MODELS:
        assert model.__name__ in schemas
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


def test_the_committed_frontend_types_match_the_spec() -> None:
    """Regenerate with ``npm run gen:api`` in frontend/ when this fails."""
    text = SCHEMA_TS.read_text()
    spec = build_spec()
    for path in spec["paths"]:
        assert f'"{path}": {{' in text, f"{path} is missing from schema.d.ts"
    for name in spec["components"]["schemas"]:
        assert f"        {name}: {{" in text, f"{name} is missing from schema.d.ts"
