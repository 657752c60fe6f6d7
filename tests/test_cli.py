"""The command line as an operator meets it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chinwag.config import ConfigurationError, Settings
from tests.support import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_URL,
    ServerProcess,
    free_port,
    postgres_database,
    redis_prefix,
)


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
    assert "CHINWAG_LOG_LEVEL: Input should be 'debug'" in result.stderr
    assert "Traceback" not in result.stderr


def refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The configuration errors of a run that stopped at start, as one line each."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("chinwag: configuration error: ") for line in lines), lines
    return [line.removeprefix("chinwag: configuration error: ") for line in lines]


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_an_unknown_setting_is_refused_naming_the_closest_one(tmp_path: Path, command: str) -> None:
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("migrate",)
    env = {"CHINWAG_DATA_DIR": str(tmp_path / "data"), "CHINWAG_ENV": "production"}
    assert refused(chinwag(*args, env=env)) == [
        "CHINWAG_ENV is not a setting; did you mean CHINWAG_ENVIRONMENT?"
    ]
    assert not (tmp_path / "data").exists(), "refused before touching anything"


def test_every_unknown_setting_is_named(tmp_path: Path) -> None:
    env = {
        "CHINWAG_DATA_DIR": str(tmp_path),
        "CHINWAG_MESAGES_PER_WINDOW": "5",
        "chinwag_secretkey": "x" * 40,
        "CHINWAG_XYZZY": "1",
    }
    assert refused(chinwag("migrate", env=env)) == [
        "CHINWAG_MESAGES_PER_WINDOW is not a setting; did you mean CHINWAG_MESSAGES_PER_WINDOW?",
        "CHINWAG_SECRETKEY is not a setting; did you mean CHINWAG_SECRET_KEY?",
        "CHINWAG_XYZZY is not a setting; `chinwag serve --help` lists them.",
    ]


def test_kubernetes_service_links_are_not_settings_and_pass(tmp_path: Path) -> None:
    """What Kubernetes injects into every pod of a namespace with a Service named chinwag."""
    links = {
        "CHINWAG_SERVICE_HOST": "10.96.0.12",
        "CHINWAG_SERVICE_PORT": "8000",
        "CHINWAG_SERVICE_PORT_HTTP": "8000",
        "CHINWAG_PORT": "tcp://10.96.0.12:8000",
        "CHINWAG_PORT_8000_TCP": "tcp://10.96.0.12:8000",
        "CHINWAG_PORT_8000_TCP_PROTO": "tcp",
        "CHINWAG_PORT_8000_TCP_PORT": "8000",
        "CHINWAG_PORT_8000_TCP_ADDR": "10.96.0.12",
    }
    server = ServerProcess(data_dir=tmp_path, env=links)
    server.start()
    try:
        assert httpx.get(f"{server.url}/readyz", timeout=15).json() == {"status": "ok"}
    finally:
        server.stop()


def test_settings_built_in_code_refuse_unknown_names_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(data_dir=tmp_path, log_level="debug").log_level == "debug"
    monkeypatch.setenv("CHINWAG_ENV", "production")
    with pytest.raises(ConfigurationError, match="did you mean CHINWAG_ENVIRONMENT"):
        Settings(data_dir=tmp_path)


def test_help_describes_every_setting_with_its_default() -> None:
    help_text = " ".join(chinwag("serve", "--help").stdout.split())
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"CHINWAG_{name.upper()} [default: " in help_text, name
        assert " ".join(field.description.split()) in help_text, name
    assert "CHINWAG_SESSION_TTL_SECONDS [default: 1209600]" in help_text
    assert "CHINWAG_TRUST_PROXY [default: false]" in help_text


# ---- database URLs ----------------------------------------------------------------------------
def test_docs_configuration_lists_every_setting() -> None:
    table = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"`CHINWAG_{name.upper()}`" not in table]
    assert missing == []


def test_a_postgres_url_without_driver_runs_on_asyncpg(tmp_path: Path) -> None:
    with postgres_database() as url:
        plain = url.replace("postgresql+asyncpg://", "postgres://")
        server = ServerProcess(data_dir=tmp_path, env={"CHINWAG_DATABASE_URL": plain})
        server.start()
        try:
            assert httpx.get(f"{server.url}/readyz", timeout=15).json() == {"status": "ok"}
        finally:
            server.stop()
        result = chinwag("migrate", env={"CHINWAG_DATABASE_URL": url.replace("+asyncpg", "")})
        assert result.returncode == 0, result.stderr


def test_a_sqlite_url_without_driver_runs_on_aiosqlite(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "chat.db"
    env = {
        "CHINWAG_DATA_DIR": str(tmp_path / "data"),
        "CHINWAG_DATABASE_URL": f"sqlite:///{database}",
    }
    result = chinwag("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert database.is_file()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://chat@127.0.0.1/chat", "mysql:// is not supported"),
        ("postgresql+psycopg2://chat@127.0.0.1/chat", "postgresql+psycopg2:// is not supported"),
        ("chat.db", "is not a database URL"),
    ],
)
def test_an_unsupported_database_url_is_a_configuration_error(
    tmp_path: Path, url: str, problem: str
) -> None:
    env = {"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_DATABASE_URL": url}
    [line] = refused(chinwag("migrate", env=env))
    assert line.startswith(f"CHINWAG_DATABASE_URL: {problem}"), line


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("database", "reason"),
    [
        ("missing", 'database "chinwag_missing_{port}" does not exist'),
        ("unreachable", "Connect call failed"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_line(
    tmp_path: Path, command: str, database: str, reason: str
) -> None:
    port = free_port()  # nothing listens there
    where = f"{PG_HOST}:{PG_PORT}" if database == "missing" else f"127.0.0.1:{port}"
    url = f"postgresql://{PG_USER}:hunter2secret@{where}/chinwag_missing_{port}"
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("migrate",)
    result = chinwag(*args, env={"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_DATABASE_URL": url})
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("chinwag: cannot open the database postgresql+asyncpg://"), line
    assert reason.format(port=port) in line
    assert "hunter2secret" not in result.stderr + result.stdout


def test_a_redis_that_does_not_answer_stops_the_start_with_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"redis://:hunter2secret@127.0.0.1:{port}/0"
    result = chinwag(
        "serve",
        "--port",
        str(free_port()),
        env={"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_REDIS_URL": url},
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith(f"chinwag: cannot reach Redis at redis://:***@127.0.0.1:{port}/0: ")
    assert "Connect call failed" in line, line
    assert "hunter2secret" not in result.stderr + result.stdout


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


def test_a_node_on_redis_whose_port_is_taken_exits_instead_of_hanging(tmp_path: Path) -> None:
    """redis-py can swallow a task's cancellation; the node's Redis loops must stop anyway,
    or the failed start hangs in its shutdown for ever (and ignores SIGTERM)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    with taken, postgres_database() as url, redis_prefix() as prefix:
        env = {
            **os.environ,
            "CHINWAG_DATA_DIR": str(tmp_path),
            "CHINWAG_DATABASE_URL": url,
            "CHINWAG_REDIS_URL": REDIS_URL,
            "CHINWAG_REDIS_PREFIX": prefix,
        }
        port = str(taken.getsockname()[1])
        for _ in range(3):  # the swallowing depends on where the cancellation lands
            proc = subprocess.Popen(
                [sys.executable, "-m", "chinwag", "serve", "--port", port],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                _, err = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                pytest.fail("the node hung after failing to bind its port")
            assert proc.returncode != 0
            assert b"address already in use" in err
