"""A person's own account in the browser: their sessions, deleting the account, a reset password."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.e2e.operator import reset_code
from tests.e2e.person import Person
from tests.support import PASSWORD, ServerProcess, unique_name

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
)
ENDED = "Your session ended; log in again."


def test_my_sessions_list_both_browsers_and_ending_the_other_logs_it_out(
    browser: Browser, web: ServerProcess
) -> None:
    name = unique_name()
    here = Person(browser, web.url, name, "Sam Sessions")
    there = Person(browser, web.url, name, "Sam Sessions", user_agent=FIREFOX_ON_WINDOWS)
    try:
        here.sign_up()
        code, _ = here.create_room("Two screens")
        there.page.goto(f"/rooms/{code}")
        there.log_in()
        expect(there.composer).to_be_enabled()  # its socket is in the room

        here.page.get_by_role("link", name="Your profile").click()
        sessions = here.page.get_by_test_id("session")
        expect(sessions).to_have_count(2)
        expect(sessions.first.get_by_test_id("this-device")).to_be_visible()
        expect(sessions.first).to_contain_text("Chrome on Linux")
        expect(sessions.nth(1)).to_contain_text("Firefox on Windows")
        expect(sessions.nth(1).get_by_test_id("this-device")).to_have_count(0)

        here.page.get_by_role(
            "button", name=re.compile("^End the session of Firefox on Windows")
        ).click()
        expect(sessions).to_have_count(1)
        expect(
            here.page.get_by_role("status").filter(has_text="it is logged out now")
        ).to_be_visible()

        # The other browser learns it from its socket, without a reload or a click.
        expect(there.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        expect(there.page.get_by_text(ENDED)).to_be_visible()
        # ... and this one is still logged in.
        here.page.reload()
        expect(sessions).to_have_count(1)
    finally:
        here.close()
        there.close()


def test_deleting_my_account_logs_me_out_and_hands_my_room_over(
    browser: Browser, web: ServerProcess
) -> None:
    ana = Person(browser, web.url, unique_name(), "Ana Leaving")
    bo = Person(browser, web.url, unique_name(), "Bo Staying")
    try:
        ana.sign_up()
        code, _ = ana.create_room("Handed over")
        bo.sign_up()
        bo.join_by_code(code)
        expect(bo.composer).to_be_enabled()
        ana.open_room(code)
        ana.send("I was here.")
        bo.expect_message("I was here.")
        expect(bo.page.get_by_role("button", name="Destroy room")).to_have_count(0)

        page = ana.page
        page.get_by_role("link", name="Your profile").click()
        page.get_by_role("button", name="Delete account…").click()
        dialog = page.get_by_role("dialog", name="Delete your account?")
        expect(dialog).to_contain_text("Deleted user")
        expect(dialog).to_contain_text("This cannot be undone.")
        expect(dialog.get_by_role("link", name="Download your data")).to_have_attribute(
            "href", "/api/me/export"
        )
        dialog.get_by_label("Your password").fill("not my password")
        dialog.get_by_role("button", name="Delete my account").click()
        expect(dialog.get_by_role("alert")).to_have_text(
            "That password is not right. Your account was not deleted."
        )
        dialog.get_by_label("Your password").fill(PASSWORD)
        dialog.get_by_role("button", name="Delete my account").click()

        expect(page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        expect(page.get_by_text("Your account was deleted.")).to_be_visible()
        ana.log_in()
        expect(page.get_by_test_id("form-error")).to_be_visible()
        expect(page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()

        # Bo, the room's longest-standing member, owns it now, live (room:updated).
        expect(bo.page.get_by_role("button", name="Destroy room")).to_be_visible()
        bo.page.reload()
        bo.expect_message("I was here.")
        expect(bo.page.locator(".room-chat [data-testid=message] .author")).to_contain_text(
            ["Deleted user"]
        )
    finally:
        ana.close()
        bo.close()


def test_a_reset_code_from_the_operator_sets_a_new_password(
    browser: Browser, web: ServerProcess
) -> None:
    kim = Person(browser, web.url, unique_name(), "Kim Forgetful")
    other = Person(browser, web.url, kim.username, kim.full_name)
    new_password = "a brand new passphrase"
    try:
        kim.sign_up()
        other.page.goto("/login")
        other.log_in()
        expect(other.page.get_by_role("heading", name="Hello, Kim Forgetful")).to_be_visible()

        # A wrong code is refused and the password stays as it was.
        page = kim.page
        kim.context.clear_cookies()
        page.goto("/reset-password")
        page.get_by_label("Reset code").fill("not-a-real-code")
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Repeat the new password").fill(new_password)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_test_id("code-error")).to_contain_text("wrong, expired or used")

        # The link carries the code in its fragment; the page fills it in and drops it.
        code = reset_code(web, kim.username)
        page.goto(f"/reset-password#code={code}")
        expect(page.get_by_label("Reset code")).to_have_value(code)
        expect(page).to_have_url(re.compile(r"/reset-password$"))
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("Repeat the new password").fill("short")
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_test_id("password-error")).to_contain_text("at least 8")
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Repeat the new password").fill(new_password)
        page.get_by_role("button", name="Set password").click()

        expect(page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
        expect(page.get_by_text("Your new password is set. Log in with it.")).to_be_visible()
        page.get_by_label("Username").fill(kim.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("form-error")).to_be_visible()
        page.get_by_label("Password").fill(new_password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Hello, Kim Forgetful")).to_be_visible()

        # The reset ended the session that was open elsewhere.
        expect(other.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()

        # The code worked once.
        page.goto(f"/reset-password#code={code}")
        page.get_by_label("New password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat the new password").fill(PASSWORD)
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_test_id("code-error")).to_contain_text("wrong, expired or used")
    finally:
        kim.close()
        other.close()
