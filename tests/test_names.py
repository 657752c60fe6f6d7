"""Full names and room names over real HTTP: invisible or hiding names are refused at every
door (sign-up, profile change, room creation), the names real scripts and emoji need pass."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.live_support import error_code
from tests.support import PASSWORD, ServerProcess, User, db_column, unique_name

MakeUser = Callable[..., User]

INVISIBLE_OR_HIDING = [
    "\u200b",  # zero-width space alone
    "\u3164\u3164",  # Hangul fillers: letters that draw as blank
    "\u115f\u1160",
    "\uffa0",
    "\u2800",  # braille blank
    "\ufe0f",  # a variation selector standing alone
    "\u0301\u0301",  # combining marks with nothing to combine with
    "\U000e0041\U000e006e\U000e0061",  # "Ana" spelled in tag characters
    "Ana\u200bLima",  # looks like "AnaLima"
    "Ana\u3164",  # looks like "Ana"
    "Ana\u2060",
    "A\u200dna",  # a joiner outside an emoji or a script that needs it
]
NEEDED = [
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # ZWJ inside an emoji sequence
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, ZWNJ between joining letters
    "\u0dc1\u0dca\u200d\u0dbb\u0dd3 Lanka",  # Sinhala, ZWJ after a virama
]


def refused(response: httpx.Response) -> bool:
    return response.status_code == 422 and error_code(response) == "invalid_input"


@pytest.mark.parametrize("name", INVISIBLE_OR_HIDING, ids=ascii)
def test_sign_up_refuses_invisible_or_hiding_full_names(server: ServerProcess, name: str) -> None:
    username = unique_name()
    with httpx.Client(base_url=server.url, timeout=15) as client:
        body = {"username": username, "full_name": name, "password": PASSWORD}
        response = client.post("/api/users", json=body)
    assert refused(response), response.text
    assert "full_name" in response.json()["error"]["message"]
    assert username not in db_column(server, "SELECT username FROM users")


def test_profile_and_room_names_refuse_invisible_or_hiding_names(make_user: MakeUser) -> None:
    ana = make_user("Ana Lima")
    for name in INVISIBLE_OR_HIDING:
        assert refused(ana.patch("/api/me", json={"full_name": name})), ascii(name)
        assert refused(ana.post("/api/rooms", json={"name": name})), ascii(name)
    assert ana.get("/api/me").json()["full_name"] == "Ana Lima"
    assert ana.get("/api/rooms").json()["rooms"] == []


def test_names_real_scripts_and_emoji_need_pass_everywhere(make_user: MakeUser) -> None:
    for name in NEEDED:
        user = make_user(name)  # signs up with this full name
        assert user.get("/api/me").json()["full_name"] == name
        changed = user.patch("/api/me", json={"full_name": f"{name}!"})
        assert changed.status_code == 200 and changed.json()["full_name"] == f"{name}!"
        room = user.post("/api/rooms", json={"name": name})
        assert room.status_code == 201 and room.json()["name"] == name
