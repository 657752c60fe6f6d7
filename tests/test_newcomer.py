"""What a newcomer meets first: the README's client snippets, the API docs page, and the
answers to a body that is not JSON."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, User

README = Path(__file__).resolve().parents[1] / "README.md"
README_URL = "http://127.0.0.1:8000"


def readme_blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", README.read_text(), re.DOTALL | re.M)


def client_section() -> str:
    text = README.read_text()
    start = text.index("## Try it with curl and a socket.io client")
    return text[start : text.index("\n## ", start + 1)]


# ---- the README -------------------------------------------------------------------------------
def test_the_readme_installs_the_client_with_an_extra_that_exists() -> None:
    """``asyncio_client`` is not found by the pip of a fresh Python 3.11 venv (no aiohttp)."""
    section = client_section()
    assert 'pip install "python-socketio[asyncio-client]"' in section
    assert "asyncio_client" not in README.read_text()


def test_the_readme_python_client_runs_as_pasted(server: ServerProcess, tmp_path: Path) -> None:
    [script] = [block for block in readme_blocks("python") if "socketio" in block]
    assert README_URL in script, "the default server is the one `make run` starts"
    (tmp_path / "hello.py").write_text(script)
    result = subprocess.run(
        [sys.executable, "hello.py", server.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entered, sent = (ast.literal_eval(line) for line in result.stdout.splitlines())
    assert entered["ok"] is True, entered
    assert sent["ok"] is True and sent["duplicate"] is False, sent
    assert sent["message"]["body"] == "hello"
    # The message is really stored: its author reads it back over HTTP.
    room, author = entered["room"]["code"], sent["message"]["sender"]["username"]
    ana = User(server.url, author, "Ana Lima", "s3cret-pass")
    try:
        assert ana.log_in().status_code == 200
        history = ana.get(f"/api/rooms/{room}/messages").json()["messages"]
    finally:
        ana.close()
    assert [m["body"] for m in history] == ["hello"]


def test_the_readme_curl_lines_run_as_pasted(server: ServerProcess, tmp_path: Path) -> None:
    [shell] = [block for block in readme_blocks("sh") if "curl" in block]
    assert README_URL in shell
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell.replace(README_URL, server.url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '"name":"Book club"' in result.stdout and '"owner":"ana"' in result.stdout


# ---- /api/docs --------------------------------------------------------------------------------
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def test_the_api_docs_load_only_the_servers_own_files(server: ServerProcess) -> None:
    """Swagger UI is served by the server: the page works offline and names no other host."""
    page = httpx.get(f"{server.url}/api/docs", timeout=15)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?:|//[a-z]", page.text, re.I), page.text
    csp = page.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'; script-src 'self' 'sha256-"), csp
    assert "http" not in csp and "*" not in csp
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {Path(url).suffix for url in urls} == set(ASSET_TYPES), urls
    for url in urls:
        asset = httpx.get(f"{server.url}{url}", timeout=15)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(ASSET_TYPES[Path(url).suffix]), url
        assert asset.headers["x-content-type-options"] == "nosniff"
    bundle = next(url for url in urls if url.endswith(".js"))
    assert "SwaggerUIBundle" in httpx.get(f"{server.url}{bundle}", timeout=15).text
    assert "url: '/api/openapi.json'" in page.text


@pytest.mark.parametrize("name", ["index.html", "swagger-initializer.js", "..%2Fpyproject.toml"])
def test_the_docs_serve_no_other_file(server: ServerProcess, name: str) -> None:
    response = httpx.get(f"{server.url}/api/docs/assets/{name}", timeout=15)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# ---- bodies that are not JSON -----------------------------------------------------------------
SEND_JSON = "Send a JSON body with Content-Type: application/json."


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (
            b'{"username": "ana",\n "full_name": }',
            "application/json",
            "The body is not valid JSON: Expecting value at line 2, column 15.",
        ),
        (b'{"username": "ana"', "application/json", "line 1, column 19."),
        (b'{"username": "ana"}', None, SEND_JSON),
        (b'{"username": "ana"}', "text/plain", SEND_JSON),
        (b"username=ana", "application/x-www-form-urlencoded", SEND_JSON),
        (b"", "application/json", f"The body is empty. {SEND_JSON}"),
        (b"", None, f"The body is empty. {SEND_JSON}"),
        (b'["ana"]', "application/json", "The body must be a JSON object."),
        (b"null", "application/json", "The body must be a JSON object."),
    ],
    ids=lambda value: repr(value)[:30],
)
def test_a_body_that_is_not_a_json_object_is_answered_in_words(
    server: ServerProcess, content: bytes, content_type: str | None, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(f"{server.url}/api/users", content=content, headers=headers, timeout=15)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].endswith(message), error
