"""Long history: older pages load as I scroll up, and what I was reading stays where it was."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Browser, expect

from tests.e2e.person import Person
from tests.support import PASSWORD, ServerProcess, User, connected

MESSAGES = 120  # more than two pages of 50


async def send_many(user: User, code: str, count: int) -> None:
    async with connected(user) as sock:
        for i in range(1, count + 1):
            ack = await sock.send(code, f"Line {i}")
            assert ack["ok"], ack


def test_older_messages_load_as_i_scroll_up_without_a_jump(
    browser: Browser, web: ServerProcess
) -> None:
    hal = User(web.url, "hal", "Hal Ek", PASSWORD)
    ida = Person(browser, web.url, "ida", "Ida Roos")
    try:
        assert hal.sign_up().status_code == 201
        code = hal.create_room("Archive")
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, send_many(hal, code, MESSAGES)).result(timeout=60)
        ida.sign_up()
        ida.join_by_code(code)
        expect(ida.room_messages.last).to_have_text(f"Line {MESSAGES}")
        expect(ida.room_messages).to_have_count(50)

        scroller = ida.page.locator(".room-chat .messages")
        for loaded in (100, MESSAGES):
            text = ida.room_messages.first.inner_text()
            scroller.evaluate("el => { el.scrollTop = 0 }")  # read up to the oldest one loaded
            expect(ida.room_messages).to_have_count(loaded)
            # the message I was reading is still in view: the page did not jump to the top
            after = ida.room_messages.get_by_text(text, exact=True).bounding_box()
            view = scroller.bounding_box()
            assert after is not None and view is not None
            assert view["y"] <= after["y"] <= view["y"] + view["height"], (text, after, view)
        expect(ida.room_messages.first).to_have_text("Line 1")
        expect(ida.page.get_by_text("This is the beginning.")).to_be_visible()
    finally:
        hal.close()
        ida.close()
