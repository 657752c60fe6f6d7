"""The server restarts mid-conversation: the page says so, then recovers with every message once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Browser, expect

from tests.e2e.person import Person
from tests.support import PASSWORD, ServerProcess, User, connected


async def send_over_socket(user: User, code: str, body: str) -> None:
    async with connected(user) as sock:
        ack = await sock.send(code, body)
        assert ack["ok"], ack


def send_from_python(user: User, code: str, body: str) -> None:
    """Another member sends through a plain Socket.IO client (its own thread and loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send_over_socket(user, code, body)).result(timeout=30)


def test_a_restart_shows_the_banner_and_loses_or_doubles_nothing(
    browser: Browser, web: ServerProcess
) -> None:
    ana = Person(browser, web.url, "ana", "Ana Lima")
    bob = Person(browser, web.url, "bob", "Bo Berg")
    cyd = User(web.url, "cyd", "Cy Diaz", PASSWORD)
    try:
        ana.sign_up()
        code, _ = ana.create_room("Night shift")
        bob.sign_up()
        bob.join_by_code(code)
        assert cyd.sign_up().status_code == 201
        assert cyd.join(code).status_code == 200
        ana.open_room(code)
        bob.expect_online("Ana Lima")
        ana.send("Before the restart.")
        bob.expect_message("Before the restart.")

        web.stop()
        for person in (ana, bob):
            expect(person.page.get_by_test_id("connection-banner")).to_have_text("Reconnecting…")
        ana.send("Sent while the server was down.")
        expect(ana.page.get_by_test_id("pending-message")).to_contain_text(
            "Waiting for the connection…"
        )

        web.start()
        send_from_python(cyd, code, "Sent right after the restart.")
        for person in (ana, bob):
            expect(person.page.get_by_test_id("connection-banner")).to_have_count(0)
        bob.send("After the restart.")

        expected = {
            "Before the restart.",
            "Sent while the server was down.",
            "Sent right after the restart.",
            "After the restart.",
        }
        for person in (ana, bob):
            for text in expected:
                person.expect_message(text)
            expect(person.room_messages).to_have_count(len(expected))
            expect(person.page.get_by_test_id("pending-message")).to_have_count(0)
    finally:
        cyd.close()
        ana.close()
        bob.close()
