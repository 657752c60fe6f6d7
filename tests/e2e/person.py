"""A person at a browser: each in their own context (cookies, storage), acting through the UI."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from tests.support import PASSWORD


def png_bytes(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


class Person:
    def __init__(
        self, browser: Browser, base_url: str, username: str, full_name: str, **context: object
    ) -> None:
        self.base_url = base_url
        self.username = username
        self.full_name = full_name
        options: dict[str, object] = {"viewport": {"width": 1280, "height": 800}, **context}
        self.context = browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        self.page: Page = self.context.new_page()

    def close(self) -> None:
        self.context.close()

    # ---- account -------------------------------------------------------------------------------
    def fill_sign_up(self) -> None:
        page = self.page
        expect(page.get_by_role("heading", name="Create your Chinwag account")).to_be_visible()
        page.get_by_label("Username").fill(self.username)
        page.get_by_label("Full name").fill(self.full_name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign up").click()

    def sign_up(self) -> None:
        self.page.goto("/signup")
        self.fill_sign_up()
        expect(self.page.get_by_role("heading", name=f"Hello, {self.full_name}")).to_be_visible()

    def log_in(self) -> None:
        expect(self.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        self.page.get_by_label("Username").fill(self.username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()

    # ---- lobby ---------------------------------------------------------------------------------
    def create_room(self, name: str) -> tuple[str, str]:
        """Creates a room from the lobby; returns its code and invite link as shown."""
        page = self.page
        page.get_by_label("Room name").fill(name)
        page.get_by_role("button", name="Create room").click()
        created = page.get_by_test_id("created-room")
        expect(created).to_be_visible()
        code = created.get_by_label("Room code").input_value()
        link = created.get_by_label("Invite link").input_value()
        return code, link

    def join_by_code(self, code: str) -> None:
        self.page.get_by_label("Room code or invite link").fill(code)
        self.page.get_by_role("button", name="Join", exact=True).click()

    # ---- room ----------------------------------------------------------------------------------
    def open_room(self, code: str) -> None:
        self.page.goto(f"/rooms/{code}")
        expect(self.composer).to_be_enabled()

    @property
    def composer(self) -> Locator:
        return self.page.locator("#room-composer")

    @property
    def private_composer(self) -> Locator:
        return self.page.locator("#dm-composer")

    @property
    def room_messages(self) -> Locator:
        return self.page.locator(".room-chat [data-testid=message] .body")

    @property
    def private_messages(self) -> Locator:
        return self.page.locator("[data-testid=conversation] [data-testid=message] .body")

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    def send_private(self, text: str) -> None:
        self.private_composer.fill(text)
        self.private_composer.press("Enter")

    def expect_message(self, text: str) -> None:
        expect(
            self.room_messages.filter(has_text=re.compile(f"^{re.escape(text)}$"))
        ).to_have_count(1)

    def expect_private(self, text: str) -> None:
        expect(
            self.private_messages.filter(has_text=re.compile(f"^{re.escape(text)}$"))
        ).to_have_count(1)

    def person_button(self, full_name: str) -> Locator:
        return self.page.get_by_role(
            "button", name=re.compile(f"^Private conversation with {re.escape(full_name)}")
        )

    def expect_online(self, full_name: str) -> None:
        expect(self.person_button(full_name)).to_be_visible()

    def open_private(self, full_name: str) -> None:
        self.person_button(full_name).click()
        expect(self.page.get_by_test_id("conversation")).to_be_visible()

    def screenshot(self, path: Path) -> None:
        """The page at rest: no pointer hovering, no caret, no animation."""
        self.page.mouse.move(0, 0)
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.page.screenshot(path=str(path), animations="disabled", caret="hide")

    def set_avatar(self, color: tuple[int, int, int]) -> None:
        page = self.page
        page.get_by_role("link", name="Your profile").click()
        page.get_by_label(re.compile("^Choose an image")).set_input_files(
            {"name": "me.png", "mimeType": "image/png", "buffer": png_bytes(color)}
        )
        expect(page.get_by_text("Preview")).to_be_visible()
        page.get_by_role("button", name="Save avatar").click()
        expect(page.get_by_text("Avatar saved.")).to_be_visible()
