"""Unread counts for what happened while someone was away, private conversations included."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from tests.e2e.person import Person
from tests.support import ServerProcess


def test_a_conversation_started_while_i_was_away_is_counted_when_i_come_back(
    browser: Browser, web: ServerProcess
) -> None:
    ana = Person(browser, web.url, "ana", "Ana Lima")
    bo = Person(browser, web.url, "bob", "Bo Berg")
    try:
        ana.sign_up()
        code, _ = ana.create_room("Road trip")
        ana.open_room(code)
        ana.send("Where shall we go?")
        ana.expect_message("Where shall we go?")

        # Bo joins and reads the room; he and Ana have never talked privately.
        bo.sign_up()
        bo.join_by_code(code)
        bo.expect_message("Where shall we go?")
        bo.page.get_by_role("link", name="Back to the lobby").click()
        expect(bo.page.get_by_test_id("room-link")).to_have_count(1)
        bo.page.get_by_role("button", name="Log out").click()
        expect(bo.page.get_by_role("heading", name="Log in to Chinwag")).to_be_visible()

        # While Bo is away, Ana starts a private conversation with him, says one more thing in
        # public, and leaves the room herself.
        ana.page.goto(f"/rooms/{code}?with=bob")
        expect(ana.page.get_by_test_id("conversation")).to_be_visible()
        ana.send_private("Psst, a surprise for Cy.")
        ana.send_private("Keep it quiet.")
        ana.expect_private("Psst, a surprise for Cy.")
        ana.expect_private("Keep it quiet.")
        ana.send("Anyone around?")
        ana.expect_message("Anyone around?")
        ana.page.get_by_role("link", name="Back to the lobby").click()
        expect(ana.page.get_by_test_id("room-link")).to_have_count(1)

        # Bo comes back (same browser): the lobby counts the public message and both private ones.
        bo.log_in()
        expect(bo.page.get_by_role("heading", name="Hello, Bo Berg")).to_be_visible()
        expect(bo.page.get_by_test_id("room-unread")).to_have_text("3")

        # In the room, Ana (offline now) is listed with her two unread before Bo opens anything.
        bo.page.get_by_test_id("room-link").click()
        bo.expect_message("Anyone around?")
        with_ana = bo.person_button("Ana Lima")
        expect(with_ana).to_have_accessible_name(re.compile(r"\(@ana\), offline, 2 unread$"))
        expect(with_ana.get_by_test_id("dm-badge")).to_have_text("2")
        expect(bo.page.get_by_test_id("conversation")).to_have_count(0)
        with_ana.click()
        bo.expect_private("Psst, a surprise for Cy.")
        bo.expect_private("Keep it quiet.")
        expect(bo.page.get_by_test_id("dm-badge")).to_have_count(0)

        # Back in the lobby, only what is new since counts: one public message.
        bo.page.get_by_role("link", name="Back to the lobby").click()
        expect(bo.page.get_by_test_id("room-link")).to_have_count(1)
        ana.open_room(code)
        ana.send("Found a campsite.")
        ana.expect_message("Found a campsite.")
        bo.page.reload()
        expect(bo.page.get_by_test_id("room-unread")).to_have_text("1")
    finally:
        ana.close()
        bo.close()
