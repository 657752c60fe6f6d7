"""The sign-up page in each registration mode: an invite code from a link, a wrong one, closed."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import SERVER_ENV
from tests.e2e.person import Person
from tests.support import run_server, unique_name
from tests.test_registration import new_code


def test_invite_code_from_a_link_signs_up(browser: Browser, tmp_path: Path) -> None:
    with run_server(tmp_path, {**SERVER_ENV, "CHINWAG_REGISTRATION": "invite"}) as server:
        code = new_code(server, "--uses", "1")
        wrong = Person(browser, server.url, unique_name(), "Wrong Code")
        right = Person(browser, server.url, unique_name(), "Right Code")
        try:
            wrong.page.goto("/signup")
            expect(wrong.page.get_by_label("Invite code")).to_be_visible()
            wrong.page.get_by_label("Invite code").fill("not-a-code")
            wrong.fill_sign_up()
            expect(wrong.page.get_by_test_id("invite-error")).to_contain_text("wrong, expired")

            right.page.goto(f"/signup?invite={code}")
            expect(right.page.get_by_label("Invite code")).to_have_value(code)
            right.fill_sign_up()
            expect(right.page.get_by_role("heading", name="Hello, Right Code")).to_be_visible()
        finally:
            wrong.close()
            right.close()


def test_closed_sign_up_says_so(browser: Browser, tmp_path: Path) -> None:
    with run_server(tmp_path, {**SERVER_ENV, "CHINWAG_REGISTRATION": "closed"}) as server:
        person = Person(browser, server.url, unique_name(), "Too Late")
        try:
            person.page.goto("/signup")
            expect(person.page.get_by_test_id("registration-closed")).to_be_visible()
            expect(person.page.get_by_role("button", name="Sign up")).to_have_count(0)
        finally:
            person.close()
