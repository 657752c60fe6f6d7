"""Pure pieces, checked over many inputs: text rules, origins, throttles, presence."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.api.middleware import host_name
from chinwag.config import Settings
from chinwag.errors import RateLimited
from chinwag.schemas import SendMessage, SignUp, TypingUpdate, UserSearch, check_text
from chinwag.security import OriginPolicy, normalize_origin
from chinwag.services.presence import PresenceRegistry
from chinwag.services.ratelimit import RateLimiter


@given(st.text(max_size=100))
def test_check_text_accepts_only_clean_nonempty_text(value: str) -> None:
    try:
        cleaned = check_text(value, max_length=64, multiline=False)
    except ValueError:
        return
    assert cleaned == cleaned.strip() and cleaned
    assert len(cleaned) <= 64
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in cleaned)


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "a\x00b", "evil\u202etxt", "line\nbreak", "\ud800", "x" * 65, "\u2066iso"],
)
def test_names_refuse_hostile_text(bad: str) -> None:
    with pytest.raises(ValidationError):
        SignUp(username="ana", full_name=bad, password="password1")


def test_names_are_trimmed_and_normalised() -> None:
    signup = SignUp(username="ana", full_name="  Ame\u0301lie  ", password="password1")
    assert signup.full_name == "Am\u00e9lie"


@pytest.mark.parametrize("username", ["ab", "a" * 33, "ana lima", "ánà", "ana🙂", "ana\u202e"])
def test_usernames_follow_the_rule(username: str) -> None:
    with pytest.raises(ValidationError):
        SignUp(username=username, full_name="Ana", password="password1")


def test_message_bodies_may_span_lines_but_not_hide_controls() -> None:
    ok = SendMessage(room="r", body=" hi\n\tthere ", client_id="c1")
    assert ok.body == "hi\n\tthere"
    for bad in ["", "\n \t", "a\x07", "x" * 4001]:
        with pytest.raises(ValidationError):
            SendMessage(room="r", body=bad, client_id="c1")
    with pytest.raises(ValidationError):
        SendMessage(room="r", body="hi", client_id="c1", sender="someone")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("http://Example.org", "http://example.org"),
        ("http://example.org:80", "http://example.org"),
        ("https://example.org:443/", "https://example.org"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file://", None),
        ("http://example.org/path", None),
        ("http://example.org:99999", None),
    ],
)
def test_normalize_origin(raw: str, normalized: str | None) -> None:
    assert normalize_origin(raw) == normalized


def test_origin_policy() -> None:
    policy = OriginPolicy(Settings(allowed_origins="https://app.example.org"))  # type: ignore[arg-type]
    own = {"host": "127.0.0.1:8000"}
    assert policy.allows("http", own)  # no Origin: not a browser page
    assert policy.allows("http", {**own, "origin": "http://127.0.0.1:8000"})
    assert policy.allows("ws", {**own, "origin": "http://127.0.0.1:8000"})
    assert policy.allows("http", {**own, "origin": "https://app.example.org"})
    assert not policy.allows("http", {**own, "origin": "http://evil.example"})
    assert not policy.allows("http", {**own, "origin": "https://127.0.0.1:8000"})
    assert not policy.allows("http", {**own, "origin": "null"})
    spoofed = {**own, "origin": "http://evil.example", "x-forwarded-host": "evil.example"}
    assert not policy.allows("http", spoofed)
    behind_proxy = OriginPolicy(Settings(trust_proxy=True))
    forwarded = {
        "host": "10.0.0.5:8000",
        "origin": "https://chat.example.org",
        "x-forwarded-host": "chat.example.org",
        "x-forwarded-proto": "https",
    }
    assert behind_proxy.allows("http", forwarded)


def test_rate_limiter_refuses_past_the_limit_and_resets() -> None:
    limiter = RateLimiter(limit=3, window=60)
    for _ in range(3):
        limiter.hit("k", "slow down")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("k", "slow down")
    assert 0 < refused.value.retry_after <= 60
    limiter.hit("other", "slow down")  # keys are independent
    limiter.reset("k")
    limiter.hit("k", "slow down")


def test_presence_counts_a_user_once_across_connections() -> None:
    presence = PresenceRegistry()
    assert presence.add(1, 10, "tab-a") is True
    assert presence.add(1, 10, "tab-b") is False
    assert presence.add(2, 10, "tab-a") is True
    assert presence.online(1) == {10}
    assert presence.remove(1, "tab-a") is None
    assert presence.is_online(1, 10)
    assert presence.remove(1, "tab-b") == 10
    assert presence.online(1) == set()
    assert presence.rooms_of("tab-a") == [2]
    presence.drop_room(2)
    assert presence.rooms_of("tab-a") == []
    assert presence.remove(2, "tab-a") is None


@pytest.mark.parametrize("flag", ["true", "yes", 1, None])
def test_socket_flags_are_strict_booleans(flag: object) -> None:
    with pytest.raises(ValidationError):
        TypingUpdate.model_validate({"room": "r", "active": flag})
    with pytest.raises(ValidationError):
        UserSearch.model_validate({"room": "r", "online": flag})


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Example.org", "example.org"),
        ("example.org:8000", "example.org"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("", ""),
    ],
)
def test_host_names_are_read_without_port(header: str, name: str) -> None:
    assert host_name(header) == name
