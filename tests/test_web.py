"""The web app's files at ``/``: history fallback, assets, the server's own paths kept apart."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chinwag.api.errors import install_error_handlers
from chinwag.api.web import mount_web


def client_for(static_dir: Path) -> httpx.AsyncClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    @app.post("/api/only-post")
    async def only_post() -> dict[str, str]:
        return {"posted": "yes"}

    mount_web(app, static_dir)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>app</title>")
    (static / "assets" / "index-abc123.js").write_text("console.log(1)")
    (static / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for you")
    return static


async def test_app_routes_fall_back_to_index_html(built: Path) -> None:
    async with client_for(built) as client:
        for path in ("/", "/rooms/abc", "/join/some-code", "/profile?x=1"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert "<title>app</title>" in response.text
            assert response.headers["cache-control"] == "no-cache"
            assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_built_files_are_served_with_long_caching_for_hashed_assets(built: Path) -> None:
    async with client_for(built) as client:
        asset = await client.get("/assets/index-abc123.js")
        assert asset.status_code == 200
        assert asset.text == "console.log(1)"
        assert "immutable" in asset.headers["cache-control"]
        icon = await client.get("/favicon.svg")
        assert icon.status_code == 200
        assert "immutable" not in icon.headers["cache-control"]


@pytest.mark.parametrize("path", ["/api/nope", "/api", "/media/avatars/x.webp", "/socket.io/x"])
async def test_server_paths_are_never_the_app(built: Path, path: str) -> None:
    async with client_for(built) as client:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert (await client.get("/api/ping")).json() == {"pong": "yes"}


async def test_files_outside_the_build_stay_hidden(built: Path) -> None:
    async with client_for(built) as client:
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"):
            response = await client.get(path)
            assert "not for you" not in response.text, path


async def test_without_a_build_the_page_says_how_to_make_one(tmp_path: Path) -> None:
    async with client_for(tmp_path / "missing") as client:
        response = await client.get("/")
        assert response.status_code == 200
        assert "web app was not built" in response.text
        assert "npm run build" in response.text
        assert (await client.get("/rooms/x")).status_code == 200


async def test_the_server_s_own_answers_are_kept(built: Path) -> None:
    async with client_for(built) as client:
        wrong_method = await client.get("/api/only-post")
        assert wrong_method.status_code == 405
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"
        for method in ("POST", "DELETE", "PUT"):
            unknown = await client.request(method, "/api/nothing-here")
            assert unknown.status_code == 404, method
            assert unknown.json()["error"]["code"] == "not_found"
        page_post = await client.post("/rooms/abc")
        assert page_post.status_code == 404
        assert "<title>app</title>" not in page_post.text
