"""The site admin's page: find accounts, disable (logs out at once), enable, delete; others: 403."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import SERVER_ENV
from tests.e2e.operator import create_admin
from tests.e2e.person import Person
from tests.support import PASSWORD, ServerProcess, run_server, unique_name

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ENDED = "Your session ended; log in again."


def test_an_admin_disables_enables_and_deletes_accounts(browser: Browser, tmp_path: Path) -> None:
    # A server of its own, so that the list (and its screenshot) holds just these people.
    with run_server(tmp_path, dict(SERVER_ENV)) as server:
        create_admin(server, "ada")
        ada = Person(browser, server.url, "ada", "ada")
        bob = Person(browser, server.url, "bob", "Bo Berg")
        cyd = Person(browser, server.url, "cyd", "Cy Diaz")
        dee = Person(browser, server.url, "dee", "Dee Dunn")
        try:
            for person in (bob, cyd, dee):
                person.sign_up()
            code, _ = bob.create_room("Bo's room")
            bob.open_room(code)  # his socket is in the room
            ada.page.goto("/login")
            ada.log_in()
            expect(ada.page.get_by_role("heading", name=re.compile("^Hello, "))).to_be_visible()

            page = ada.page
            page.get_by_role("link", name="Admin", exact=True).click()
            expect(page.get_by_role("heading", name="Administration")).to_be_visible()
            rows = page.get_by_test_id("admin-user")
            expect(rows).to_have_count(4)
            expect(page.get_by_test_id("admin-count")).to_have_text("1–4 of 4 accounts")
            me = page.locator("[data-testid=admin-user][data-username=ada]")
            expect(me.get_by_text("You", exact=True)).to_be_visible()
            expect(me.get_by_role("button")).to_have_count(0)  # no acting on oneself

            # Search, case-insensitively, by full name; the query is in the address bar.
            page.get_by_label("Search accounts").fill("BERG")
            page.get_by_label("Search accounts").press("Enter")
            expect(page).to_have_url(re.compile(r"/admin\?q=BERG$"))
            expect(rows).to_have_count(1)
            bob_row = page.locator("[data-testid=admin-user][data-username=bob]")
            expect(bob_row).to_be_visible()

            # Disable: after a confirmation, his open page is logged out at once.
            bob_row.get_by_role("button", name="Disable bob").click()
            dialog = page.get_by_role("dialog", name="Disable bob?")
            expect(dialog).to_contain_text("logged out at once")
            dialog.get_by_role("button", name="Disable account").click()
            expect(bob_row.get_by_test_id("disabled-tag")).to_be_visible()
            expect(bob.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
            expect(bob.page.get_by_text(ENDED)).to_be_visible()
            bob.log_in()
            expect(bob.page.get_by_test_id("form-error")).to_be_visible()

            page.get_by_label("Search accounts").fill("")
            page.get_by_label("Search accounts").press("Enter")
            expect(page).to_have_url(re.compile(r"/admin$"))
            expect(rows).to_have_count(4)
            ada.screenshot(SCREENSHOTS / "admin.png")

            # Enable: he can log in again.
            bob_row.get_by_role("button", name="Enable bob").click()
            expect(bob_row.get_by_test_id("disabled-tag")).to_have_count(0)
            bob.log_in()
            expect(bob.composer).to_be_enabled()  # back in the room he was in

            # Delete, after a confirmation that says what it does: gone from the list, and
            # the page that was open is logged out.
            cyd_row = page.locator("[data-testid=admin-user][data-username=cyd]")
            cyd_row.get_by_role("button", name="Delete cyd").click()
            dialog = page.get_by_role("dialog", name="Delete cyd?")
            expect(dialog).to_contain_text("Deleted user")
            expect(dialog).to_contain_text("This cannot be undone.")
            dialog.get_by_role("button", name="Cancel").click()
            expect(cyd_row).to_be_visible()
            cyd_row.get_by_role("button", name="Delete cyd").click()
            dialog.get_by_role("button", name="Delete account").click()
            expect(cyd_row).to_have_count(0)
            expect(rows).to_have_count(3)
            expect(page.get_by_test_id("admin-count")).to_have_text("1–3 of 3 accounts")
            expect(cyd.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()
            cyd.log_in()
            expect(cyd.page.get_by_test_id("form-error")).to_be_visible()

            # What the page shows is what the server has (a reload asks it again).
            page.reload()
            expect(rows).to_have_count(3)
            expect(page.locator("[data-testid=admin-user][data-username=cyd]")).to_have_count(0)
        finally:
            for person in (ada, bob, cyd, dee):
                person.close()


def test_a_non_admin_is_told_the_page_is_not_for_them(browser: Browser, web: ServerProcess) -> None:
    eve = Person(browser, web.url, unique_name(), "Eve Curious")
    try:
        eve.sign_up()
        expect(eve.page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
        eve.page.goto("/admin")
        expect(eve.page.get_by_test_id("not-admin")).to_contain_text(
            "Only the site's administrators can see this page."
        )
        expect(eve.page.get_by_test_id("admin-user")).to_have_count(0)
        answer = eve.page.request.get("/api/admin/users")
        assert answer.status == 403
        assert answer.json()["error"]["code"] == "not_admin"
    finally:
        eve.close()


def test_the_admin_list_goes_page_by_page(browser: Browser, web: ServerProcess) -> None:
    prefix = unique_name("pg")
    with httpx.Client(base_url=web.url, timeout=30) as http:
        for i in range(55):
            body = {"username": f"{prefix}{i:02d}", "full_name": f"Paged {i:02d}"}
            answer = http.post("/api/users", json={**body, "password": PASSWORD})
            assert answer.status_code == 201, answer.text
            http.cookies.clear()
    admin_name = unique_name("adm")
    create_admin(web, admin_name)
    ada = Person(browser, web.url, admin_name, admin_name)
    try:
        page = ada.page
        page.goto(f"/admin?q={prefix}")
        ada.log_in()
        rows = page.get_by_test_id("admin-user")
        count = page.get_by_test_id("admin-count")
        expect(count).to_have_text(f"1–50 of 55 accounts matching “{prefix}”")
        expect(rows).to_have_count(50)
        expect(rows.first).to_have_attribute("data-username", f"{prefix}00")

        page.get_by_role("button", name="Next").click()
        expect(page).to_have_url(re.compile(rf"/admin\?q={prefix}&page=2$"))
        expect(count).to_have_text(f"51–55 of 55 accounts matching “{prefix}”")
        expect(rows).to_have_count(5)
        expect(rows.first).to_have_attribute("data-username", f"{prefix}50")
        expect(page.get_by_text("Page 2 of 2")).to_be_visible()
        page.reload()
        expect(rows).to_have_count(5)

        # A deletion on this page: the page is asked for again, and the count follows.
        page.get_by_role("button", name=f"Delete {prefix}50").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete account").click()
        expect(count).to_have_text(f"51–54 of 54 accounts matching “{prefix}”")
        expect(rows.first).to_have_attribute("data-username", f"{prefix}51")

        page.get_by_role("button", name="Previous").click()
        expect(page).to_have_url(re.compile(rf"/admin\?q={prefix}$"))
        expect(rows).to_have_count(50)
        page.go_back()
        expect(rows).to_have_count(4)
    finally:
        ada.close()
