"""Two (and three) people use Chinwag in real browsers, as new users would."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.person import Person
from tests.support import ServerProcess

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_people_chat_in_public_and_in_private(browser: Browser, web: ServerProcess) -> None:
    ana = Person(browser, web.url, "ana", "Ana Lima")
    bo = Person(browser, web.url, "bob", "Bo Berg")
    cy = Person(browser, web.url, "cyd", "Cy Diaz")
    try:
        ana.sign_up()
        code, link = ana.create_room("Book club")
        assert link.endswith(f"/join/{code}")
        ana.page.get_by_role("button", name="Copy Invite link").click()
        expect(ana.page.get_by_text("Copied!")).to_be_visible()
        assert ana.page.evaluate("navigator.clipboard.readText()") == link

        # Bo opens the invite link before having an account: log in first, then the room.
        bo.page.goto(link)
        expect(bo.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        bo.page.get_by_role("link", name="Create an account").click()
        bo.fill_sign_up()
        expect(bo.page).to_have_url(re.compile(f"/rooms/{code}$"))
        expect(bo.page.get_by_role("heading", name="Book club")).to_be_visible()

        cy.sign_up()
        cy.join_by_code("not-a-room")
        expect(cy.page.get_by_text("No room has this code.")).to_be_visible()
        cy.join_by_code(code)
        expect(cy.page).to_have_url(re.compile(f"/rooms/{code}$"))

        ana.open_room(code)
        ana.expect_online("Bo Berg")
        ana.expect_online("Cy Diaz")
        bo.expect_online("Ana Lima")
        cy.send("Hi all, Cy here.")
        ana.expect_message("Hi all, Cy here.")

        # Public chat both ways, typing shown to the others.
        ana.send("Hello Bo!")
        bo.expect_message("Hello Bo!")
        bo.send("Hi Ana, nice room.")
        ana.expect_message("Hi Ana, nice room.")
        ana.expect_message("Hello Bo!")
        bo.composer.press_sequentially("I am writ")
        expect(ana.page.get_by_test_id("typing")).to_have_text("Bo Berg is typing…")
        bo.composer.fill("")
        bo.composer.press("Backspace")
        expect(ana.page.get_by_test_id("typing")).to_have_text("")

        # Private: Ana writes to Bo; Bo sees a badge, opens it, answers; Cy sees none of it.
        ana.open_private("Bo Berg")
        ana.send_private("Just between us: the next book is a secret.")
        ana.expect_private("Just between us: the next book is a secret.")
        badge = bo.person_button("Ana Lima").get_by_test_id("dm-badge")
        expect(badge).to_have_text("1")
        bo.open_private("Ana Lima")
        bo.expect_private("Just between us: the next book is a secret.")
        expect(badge).to_have_count(0)
        bo.private_composer.press_sequentially("My lips")
        expect(ana.page.get_by_test_id("dm-typing")).to_have_text("Bo Berg is typing…")
        bo.private_composer.fill("")
        bo.send_private("My lips are sealed.")
        ana.expect_private("My lips are sealed.")
        ana.send("Public again.")
        cy.expect_message("Public again.")
        cy.expect_message("Hi Ana, nice room.")
        expect(cy.page.get_by_text("secret")).to_have_count(0)
        expect(cy.page.get_by_text("My lips are sealed.")).to_have_count(0)
        expect(bo.room_messages.filter(has_text="secret")).to_have_count(0)

        # Cy renames himself; the others see the new name at once.
        cy.page.get_by_role("link", name="Your profile").click()
        cy.page.get_by_label("Full name").fill("Cyd Diaz")
        cy.page.get_by_role("button", name="Save name").click()
        expect(cy.page.get_by_text("Saved.")).to_be_visible()
        expect(ana.page.locator(".room-chat .author", has_text="Cyd Diaz")).to_have_count(1)
        cy.open_room(code)
        ana.expect_online("Cyd Diaz")

        # Ana changes her avatar; Bo sees it beside her messages without reloading. (It is a
        # plain (200, 60, 90) square, so the screenshot shows a disc of that colour, no initials.)
        ana.set_avatar((200, 60, 90))
        avatar = bo.page.locator('.room-chat img[alt="Avatar of Ana Lima"]')
        expect(avatar).to_have_count(2)
        loaded = "async (img) => { await img.decode(); return img.naturalWidth }"
        assert avatar.first.evaluate(loaded) > 0
        expect(bo.page.get_by_test_id("conversation").locator("img").first).to_be_visible()
        ana.open_room(code)
        bo.expect_online("Ana Lima")
        bo.screenshot(SCREENSHOTS / "room-private.png")

        # Bo goes to the lobby; a message that arrives meanwhile counts as unread there.
        bo.page.get_by_role("link", name="Back to the lobby").click()
        expect(bo.page.get_by_test_id("room-link")).to_have_count(1)
        bo.create_room("Garden")
        expect(bo.page.get_by_test_id("room-link")).to_have_count(2)
        ana.send("Bo, are you still there?")
        cy.expect_message("Bo, are you still there?")
        bo.page.reload()
        expect(bo.page.get_by_test_id("room-unread")).to_have_text("1")
        bo.screenshot(SCREENSHOTS / "lobby.png")

        # The owner destroys the room: the others land in the lobby with a notice.
        bo.page.get_by_test_id("room-link").filter(has_text="Book club").click()
        bo.expect_message("Bo, are you still there?")
        ana.page.get_by_role("button", name="Destroy room").click()
        dialog = ana.page.get_by_role("dialog")
        expect(dialog).to_contain_text("cannot be undone")
        dialog.get_by_role("button", name="Destroy room").click()
        expect(ana.page.get_by_role("heading", name="Hello, Ana Lima")).to_be_visible()
        for other in (bo, cy):
            expect(other.page).to_have_url(re.compile(r"/$"))
            expect(other.page.get_by_test_id("lobby-notice")).to_contain_text(
                "This room was destroyed by its owner"
            )
            expect(
                other.page.get_by_test_id("room-link").filter(has_text="Book club")
            ).to_have_count(0)
    finally:
        for person in (ana, bo, cy):
            person.close()


def test_a_reload_keeps_me_logged_in(browser: Browser, web: ServerProcess) -> None:
    dee = Person(browser, web.url, "dee", "Dee Okafor")
    try:
        dee.sign_up()
        code, _ = dee.create_room("Plants")
        dee.open_room(code)
        dee.send("Water on Mondays.")
        dee.expect_message("Water on Mondays.")
        dee.page.reload()
        expect(dee.page.get_by_role("heading", name="Plants")).to_be_visible()
        dee.expect_message("Water on Mondays.")
        dee.page.get_by_role("button", name="Log out").click()
        expect(dee.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        dee.page.goto(f"/rooms/{code}")
        expect(dee.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        dee.log_in()
        expect(dee.page).to_have_url(re.compile(f"/rooms/{code}$"))
        dee.expect_message("Water on Mondays.")
    finally:
        dee.close()
