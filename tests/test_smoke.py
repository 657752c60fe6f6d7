from __future__ import annotations

from tests.support import User, connected


async def test_two_users_chat_in_a_room(make_user) -> None:  # type: ignore[no-untyped-def]
    ana: User = make_user("Ana")
    bo: User = make_user("Bo")
    code = ana.create_room("Smoke")
    assert bo.join(code).status_code == 200
    async with connected(ana) as a, connected(bo) as b:
        await a.enter(code)
        await b.enter(code)
        ack = await a.send(code, "hello")
        assert ack["ok"], ack
        got = await b.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
        assert got["body"] == "hello"
        assert got["sender"]["username"] == ana.username
