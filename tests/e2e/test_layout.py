"""A phone-sized screen, the keyboard alone, and text that looks like HTML."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, expect

from tests.e2e.person import Person
from tests.support import ServerProcess

PHONE = {"width": 390, "height": 844}
NARROW_PHONE = {"width": 320, "height": 640}

# True when a tap at the element's centre lands on the element itself (or inside it), not on
# something drawn over it.
UNCOVERED = """el => {
    const r = el.getBoundingClientRect()
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)
    return hit !== null && el.contains(hit)
}"""


def expect_uncovered(element: Locator) -> None:
    expect(element).to_be_visible()
    assert element.evaluate(UNCOVERED), "something is drawn over it"


def test_on_a_phone_the_people_panel_folds_away(browser: Browser, web: ServerProcess) -> None:
    eve = Person(browser, web.url, "eve", "Eve Ito")
    fay = Person(browser, web.url, "fay", "Fay Ng", viewport={"width": 390, "height": 800})
    try:
        eve.sign_up()
        code, _ = eve.create_room("Phones")
        eve.open_room(code)
        fay.sign_up()
        fay.join_by_code(code)
        panel = fay.page.locator("#room-side")
        expect(panel).to_be_hidden()
        toggle = fay.page.get_by_role("button", name="People (2)")
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        fay.open_private("Eve Ito")
        expect(fay.composer).to_be_hidden()  # the conversation takes the screen
        fay.send_private("Hello from my phone")
        eve.expect_online("Fay Ng")
        eve.open_private("Fay Ng")
        eve.expect_private("Hello from my phone")
        fay.page.get_by_role("button", name="Close the private conversation").click()
        expect(fay.composer).to_be_visible()
    finally:
        eve.close()
        fay.close()


@pytest.mark.parametrize("viewport", [PHONE, NARROW_PHONE], ids=["390x844", "320x640"])
def test_on_a_phone_the_people_panel_closes_every_way(
    browser: Browser, web: ServerProcess, viewport: dict[str, int]
) -> None:
    hal = Person(
        browser,
        web.url,
        f"hal{viewport['width']}",
        "Hal Ek",
        viewport=viewport,
        has_touch=True,
        is_mobile=True,
    )
    try:
        hal.sign_up()
        code, _ = hal.create_room("A room whose name is too long for a phone")
        hal.open_room(code)
        page = hal.page
        panel = page.locator("#room-side")
        toggle = page.get_by_role("button", name="People (1)")
        close = page.get_by_role("button", name="Close the people list")

        def open_people() -> None:
            toggle.tap()
            expect(panel).to_be_visible()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            expect_uncovered(toggle)  # the panel opens below the header, whatever its height
            expect(close).to_be_focused()  # focus moved into the panel

        def expect_closed() -> None:
            expect(panel).to_be_hidden()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(toggle).to_be_focused()  # and back to the button
            expect_uncovered(toggle)
            expect_uncovered(hal.composer)

        expect(panel).to_be_hidden()
        expect_uncovered(toggle)

        open_people()
        page.keyboard.press("Escape")
        expect_closed()

        open_people()
        page.touchscreen.tap(8, viewport["height"] / 2)  # on the room, beside the panel
        expect_closed()

        open_people()
        toggle.tap()
        expect_closed()

        open_people()
        close.tap()
        expect_closed()
    finally:
        hal.close()


def test_the_keyboard_is_enough_and_text_stays_text(browser: Browser, web: ServerProcess) -> None:
    gus = Person(browser, web.url, "gus", "Gus Ole")
    try:
        page = gus.page
        page.goto("/signup")
        page.get_by_label("Username").focus()
        page.keyboard.type("gus")
        page.keyboard.press("Tab")  # the hint is text, the next stop is the next field
        page.keyboard.type("Gus Ole")
        page.keyboard.press("Tab")
        page.keyboard.type("short")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("password-error")).to_have_text(
            "A password has at least 8 characters."
        )
        page.get_by_label("Password").fill("correct horse battery")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Hello, Gus Ole")).to_be_visible()

        page.get_by_label("Room name").focus()
        page.keyboard.type("Keys")
        page.keyboard.press("Enter")
        page.get_by_role("link", name="Open the room").press("Enter")
        expect(gus.composer).to_be_enabled()
        gus.composer.focus()
        page.keyboard.type("first line")
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("<b>second</b> <img src=x onerror=\"document.title='pwned'\">")
        page.keyboard.press("Enter")
        body = gus.room_messages.first
        expect(body).to_have_text(
            "first line\n<b>second</b> <img src=x onerror=\"document.title='pwned'\">"
        )
        expect(body.locator("b, img")).to_have_count(0)
        expect(page).not_to_have_title("pwned")
    finally:
        gus.close()
