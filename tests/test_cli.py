"""The command line as an operator meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import ServerProcess


def chinwag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chinwag", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_help_documents_the_environment() -> None:
    result = chinwag("serve", "--help")
    assert result.returncode == 0
    for name in (
        "--host",
        "--port",
        "CHINWAG_DATABASE_URL",
        "CHINWAG_DATA_DIR",
        "CHINWAG_SECRET_KEY",
        "CHINWAG_ALLOWED_ORIGINS",
        "CHINWAG_ENVIRONMENT",
        "CHINWAG_LOG_LEVEL",
        "CHINWAG_LOG_FORMAT",
    ):
        assert name in result.stdout


def test_migrate_creates_the_database_in_the_data_dir(tmp_path: Path) -> None:
    result = chinwag("migrate", env={"CHINWAG_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "chinwag.db").is_file()


def test_production_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {"CHINWAG_ENVIRONMENT": "production", "CHINWAG_DATA_DIR": str(tmp_path)}
    result = chinwag("migrate", env={**env, "CHINWAG_SECRET_KEY": ""})
    assert result.returncode == 2
    assert "CHINWAG_SECRET_KEY" in result.stderr
    result = chinwag("migrate", env={**env, "CHINWAG_SECRET_KEY": "changeme"})
    assert result.returncode == 2


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    result = chinwag(
        "migrate", env={"CHINWAG_LOG_LEVEL": "loud", "CHINWAG_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 2
    assert "log_level" in result.stderr


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path, env={})
    server.start()
    try:
        secret = (tmp_path / "secret_key").read_text()
        assert len(secret) >= 32
        assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
        server.restart()
        assert (tmp_path / "secret_key").read_text() == secret
    finally:
        server.stop()


def test_production_logs_are_json_with_a_request_id(tmp_path: Path) -> None:
    env = {"CHINWAG_ENVIRONMENT": "production", "CHINWAG_SECRET_KEY": "x" * 40}
    server = ServerProcess(data_dir=tmp_path, env=env)
    server.start()
    try:
        response = httpx.get(f"{server.url}/healthz")
        request_id = response.headers["x-request-id"]
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    request_lines = [line for line in lines if line.get("request_id") == request_id]
    assert request_lines and request_lines[0]["event"] == "http.request"
    assert request_lines[0]["path"] == "/healthz"
