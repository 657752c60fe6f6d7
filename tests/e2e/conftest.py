"""Browser fixtures: Debian's chromium driven by Playwright, against a real ``chinwag serve``.

Every test in this folder is marked ``e2e``. The web app must be built (``make setup`` does
it) and chromium installed (``scripts/services`` does it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

import chinwag
from tests.conftest import RAISED_LIMITS
from tests.support import ServerProcess

STATIC_INDEX = Path(chinwag.__file__).resolve().parent / "static" / "index.html"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_ENV = {"CHINWAG_LOG_LEVEL": "info", **RAISED_LIMITS}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# Module scope, not session: between its calls, Playwright's sync API marks its own event loop
# as running in this thread, which would stop pytest-asyncio's tests in other modules.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed; run `bash scripts/services` (apt-get install chromium)"
        )
    if not STATIC_INDEX.is_file():
        pytest.fail("the web app is not built; run `make setup` (npm ci && npm run build)")
    expect.set_options(timeout=10_000)
    browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server on SQLite shared by the tests of one module (each test signs up its own people)."""
    server = ServerProcess(data_dir=tmp_path_factory.mktemp("e2e"), env=dict(SERVER_ENV))
    server.start()
    yield server
    server.stop()
