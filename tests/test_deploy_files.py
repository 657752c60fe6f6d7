"""The deployment files: deploy/compose.yaml, the Dockerfile and the nginx config compose uses.

No Docker engine runs here and no image can be pulled, so the compose file is validated by
Debian's ``docker-compose config`` (installed by scripts/services) and the Dockerfile is
checked statically: every script it runs is one scripts/setup runs too (so CI exercises it),
and the scripts it copies in (the health check, the nginx renderer) run here for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from chinwag.cli import build_parser
from chinwag.config import PREFIX, Settings
from tests.conftest import SERVER_ENV
from tests.support import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
RENDER = ROOT / "deploy" / "compose" / "render-nginx.sh"
UPSTREAM = ROOT / "deploy" / "compose" / "upstream.conf"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"
SECRET = "compose-test-secret-" + "x" * 32
NODES = ("chinwag-1", "chinwag-2")


def compose(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing: scripts/services installs it (make setup-test)")
    env_file = tmp_path / "compose.env"  # never the developer's deploy/.env
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    env = {"CHINWAG_SECRET_KEY": SECRET, "POSTGRES_PASSWORD": "compose-test-password"}
    result = compose(tmp_path, env, "config")
    assert result.returncode == 0, result.stderr
    loaded = yaml.safe_load(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


# ---- compose ----------------------------------------------------------------------------------
def test_compose_runs_two_nodes_on_postgres_and_redis_behind_nginx(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) == {*NODES, "postgres", "redis", "nginx"}
    envs = [services[node]["environment"] for node in NODES]
    assert [env["CHINWAG_NODE_NAME"] for env in envs] == list(NODES)
    for env in envs:
        assert env["CHINWAG_SECRET_KEY"] == SECRET
        assert env["CHINWAG_TRUST_PROXY"] == "true"
        assert env["CHINWAG_ENVIRONMENT"] == "production"
        assert env["CHINWAG_DATABASE_URL"].startswith("postgresql+asyncpg://chinwag:")
        assert env["CHINWAG_DATABASE_URL"].endswith("@postgres:5432/chinwag")
        assert env["CHINWAG_REDIS_URL"] == "redis://redis:6379/0"
        assert env["CHINWAG_ALLOWED_HOSTS"]
    # everything but the node's name is shared
    assert {k: v for k, v in envs[0].items() if k != "CHINWAG_NODE_NAME"} == {
        k: v for k, v in envs[1].items() if k != "CHINWAG_NODE_NAME"
    }
    for node in NODES:
        assert services[node]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert "/readyz" in " ".join(services[node]["healthcheck"]["test"])
        assert services[node]["build"]["dockerfile"] == "Dockerfile"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert services["nginx"]["depends_on"] == {
        node: {"condition": "service_healthy"} for node in NODES
    }
    [port] = services["nginx"]["ports"]
    assert (int(port["published"]), int(port["target"])) == (80, 80)


def test_compose_shares_one_password_between_postgres_and_the_nodes(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password == "compose-test-password"
    url = services["chinwag-1"]["environment"]["CHINWAG_DATABASE_URL"]
    assert f"chinwag:{password}@" in url


def test_compose_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = compose(tmp_path, {"POSTGRES_PASSWORD": "p"}, "config")
    assert result.returncode != 0
    assert "CHINWAG_SECRET_KEY" in result.stderr


def test_compose_nginx_mounts_the_tested_config(config: dict[str, Any]) -> None:
    volumes = config["services"]["nginx"]["volumes"]
    sources = {Path(v.split(":")[0]).resolve(): v.split(":")[1] for v in volumes}
    assert sources[NGINX_CONF] == "/etc/chinwag/nginx.conf"
    assert sources[UPSTREAM] == "/etc/chinwag/upstream.conf"
    assert sources[RENDER].startswith("/docker-entrypoint.d/")
    assert sources[RENDER].endswith(".sh")
    assert RENDER.stat().st_mode & 0o111, "the nginx image runs only executable entry scripts"


# ---- nginx for compose: deploy/nginx.conf with other upstream servers --------------------------
def without_upstream_servers(text: str) -> list[str]:
    upstream = re.compile(r"^    server \S+:\d+ ")
    return [line for line in text.splitlines() if not upstream.match(line)]


def test_compose_nginx_config_differs_from_the_tested_one_only_in_its_servers(
    tmp_path: Path,
) -> None:
    out = tmp_path / "default.conf"
    result = subprocess.run(
        ["sh", str(RENDER), str(NGINX_CONF), str(UPSTREAM), str(out)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    rendered, tested = out.read_text(), NGINX_CONF.read_text()
    assert re.findall(r"(?m)^    server (\S+) ", rendered) == ["chinwag-1:8000", "chinwag-2:8000"]
    assert "127.0.0.1:800" not in rendered.split("map ")[0]
    assert without_upstream_servers(rendered) == without_upstream_servers(tested)
    # the servers sit where the example ones were, inside the upstream block
    start = rendered.index("upstream chinwag {")
    upstream_block = rendered[start : rendered.index("}", start)]
    assert upstream_block.count("    server chinwag-") == 2


def test_the_tested_nginx_config_carries_a_commented_tls_example() -> None:
    text = NGINX_CONF.read_text()
    assert '#     add_header Strict-Transport-Security "max-age=' in text
    assert "#     listen 443 ssl;" in text
    # commented out: the config nginx loads has one plain-HTTP server
    live = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert sum(line.strip() == "server {" for line in live) == 1


# ---- the Dockerfile ---------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


def test_the_dockerfile_runs_only_scripts_that_setup_runs_too() -> None:
    runs = [rest for word, rest in dockerfile_instructions() if word == "RUN"]
    scripts = [s for rest in runs for s in re.findall(r"\bscripts/[\w-]+", rest)]
    assert {"scripts/build-web", "scripts/install-python"} <= set(scripts)
    setup = (ROOT / "scripts" / "setup").read_text()
    for script in scripts:
        assert (ROOT / script).is_file(), f"the Dockerfile runs {script}, which does not exist"
        assert f"bash {script}" in setup, f"scripts/setup (so CI) never runs {script}"
    copied = [rest.split()[0] for word, rest in dockerfile_instructions() if word == "COPY"]
    for source in copied:
        if not source.startswith("--"):
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}: missing"


def test_the_dockerfile_is_multi_stage_non_root_and_checks_readyz() -> None:
    rows = dockerfile_instructions()
    froms = [rest for word, rest in rows if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS web"), froms
    assert "python" in froms[1] and "slim" in froms[1]
    assert any(word == "COPY" and rest.startswith("--from=web ") for word, rest in rows)
    users = [rest for word, rest in rows if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    last_user = max(i for i, (word, _) in enumerate(rows) if word == "USER")
    assert all(word != "RUN" for word, _ in rows[last_user:]), "no RUN after dropping root"
    [health] = [rest for word, rest in rows if word == "HEALTHCHECK"]
    assert "/readyz" in health and "healthcheck.py" in health
    [cmd] = [rest for word, rest in rows if word == "CMD"]
    assert cmd == '["chinwag", "serve", "--host", "0.0.0.0", "--port", "8000"]'


def test_the_image_healthcheck_passes_on_a_ready_node_that_answers_one_host_only(
    tmp_path: Path,
) -> None:
    """deploy/healthcheck.py against a real node: it sends an allowed Host (the node refuses
    127.0.0.1 here), and fails once the node is gone."""
    env = {**SERVER_ENV, "CHINWAG_ALLOWED_HOSTS": "chat.example.org"}
    node = ServerProcess(tmp_path, env)
    node.launch()
    url = f"{node.url}/readyz"

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(HEALTHCHECK), url],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", "CHINWAG_ALLOWED_HOSTS": "chat.example.org"},
        )

    try:
        deadline = time.monotonic() + 30
        while (result := check()).returncode != 0:
            assert node.proc is not None and node.proc.poll() is None, node.log()
            assert time.monotonic() < deadline, f"never healthy: {result.stderr}\n{node.log()}"
            time.sleep(0.2)
        assert httpx.get(url, timeout=5).status_code == 400  # 127.0.0.1 is not an allowed host
    finally:
        node.stop()
    assert check().returncode == 1


# ---- the systemd unit -------------------------------------------------------------------------
UNIT = ROOT / "deploy" / "chinwag.service"
UNIT_PROGRAM = "/opt/chinwag/bin/chinwag"  # where the unit's comments install it


def unit_lines(key: str) -> list[str]:
    """The values of every ``key=`` line of the unit (comments aside)."""
    prefix = f"{key}="
    return [
        line.removeprefix(prefix)
        for line in UNIT.read_text().splitlines()
        if line.startswith(prefix)
    ]


def test_systemd_accepts_the_unit_with_the_real_program(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the unit, its program pointed at this checkout's
    ``chinwag`` and its environment file at an empty one: no error and no warning (an
    unknown key or section is only a warning, so any line naming the unit fails)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here: the unit is checked as text only")
    program = Path(sys.executable).parent / "chinwag"
    assert program.is_file(), "the chinwag console script is not installed in this venv"
    (env_file,) = unit_lines("EnvironmentFile")
    (tmp_path / "chinwag.env").write_text("")
    text = UNIT.read_text().replace(UNIT_PROGRAM, str(program))
    unit = tmp_path / "chinwag.service"
    text = text.replace(f"EnvironmentFile={env_file}", f"EnvironmentFile={tmp_path}/chinwag.env")
    unit.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert [line for line in output.splitlines() if "chinwag.service" in line] == []


def test_the_unit_runs_chinwag_serve_with_real_settings() -> None:
    (exec_start,) = unit_lines("ExecStart")
    program, *args = exec_start.split()
    assert program == UNIT_PROGRAM
    assert (
        Path(program).name
        in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    )
    parsed = build_parser().parse_args(args)
    assert (parsed.command, parsed.host, parsed.workers) == ("serve", "127.0.0.1", 1)
    assigned = dict(line.split("=", 1) for line in unit_lines("Environment"))
    names = {PREFIX + name.upper() for name in Settings.model_fields}
    assert set(assigned) <= names, set(assigned) - names
    # and the values are valid ones (with the secret the environment file adds)
    values = {name.removeprefix(PREFIX).lower(): value for name, value in assigned.items()}
    settings = Settings(**values, secret_key="x" * 40)
    assert settings.environment == "production" and settings.trust_proxy
    assert str(settings.data_dir) == "/var/lib/chinwag" == unit_lines("WorkingDirectory")[0]
    # the secrets are not in the unit: it names the file they are in
    assert "SECRET" not in " ".join(assigned) and unit_lines("EnvironmentFile")


# ---- docs/deploy.md ---------------------------------------------------------------------------
DEPLOY_MD = ROOT / "docs" / "deploy.md"
MIGRATIONS = ROOT / "src" / "chinwag" / "db" / "migrations" / "versions"
MUST_SET = (
    "ENVIRONMENT",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "TRUST_PROXY",
    "DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PREFIX",
    "NODE_NAME",
)


def test_deploy_docs_name_only_real_settings_and_the_ones_a_deployer_sets() -> None:
    text = DEPLOY_MD.read_text()
    names = {PREFIX + name.upper() for name in Settings.model_fields}
    mentioned = {m for m in re.findall(r"CHINWAG_[A-Z0-9_]+", text) if not m.endswith("_")}
    assert mentioned - names == set(), "docs/deploy.md names settings that do not exist"
    table = text.split("## What you must set", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(CHINWAG_[A-Z_]+)` \|", table, re.M))
    assert rows == {PREFIX + name for name in MUST_SET}
    assert "(configuration.md)" in text, "docs/deploy.md links the full list"


def test_deploy_docs_judge_every_migration_against_the_upgrade_rule() -> None:
    upgrades = DEPLOY_MD.read_text().split("## Upgrades", 1)[1].split("\n## ", 1)[0]
    judged = re.findall(r"^\| (\d{4}) ", upgrades, re.M)
    files = sorted(path.name[:4] for path in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert files and judged == files, "a new migration needs its row in docs/deploy.md"
