"""The API docs page in a browser that can reach nothing but the server (an offline host)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Route, expect

from tests.support import ServerProcess


def test_the_api_docs_render_offline(browser: Browser, web: ServerProcess) -> None:
    context = browser.new_context()
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(web.url).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"{web.url}/api/docs")
        expect(page.get_by_role("heading", name="Chinwag")).to_be_visible()
        operations = page.locator(".opblock-summary-path")
        expect(operations.filter(has_text="/api/rooms/{code}/messages").first).to_be_visible()
        assert operations.count() >= 10
    finally:
        context.close()
    assert elsewhere == []
    assert problems == []  # a script or style the page's CSP refused would be reported here
