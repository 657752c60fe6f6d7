"""Pure pieces, checked over many inputs: text rules, origins, throttles."""

from __future__ import annotations

import asyncio
import threading
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.api.middleware import host_name
from chinwag.backends.clock import ManualClock
from chinwag.backends.memory import MemoryRateCounters
from chinwag.config import Settings
from chinwag.errors import Busy, RateLimited
from chinwag.schemas import (
    SendMessage,
    SignUp,
    TypingUpdate,
    UserSearch,
    check_text,
    is_default_ignorable,
)
from chinwag.security import OriginPolicy, normalize_origin
from chinwag.services.pools import WorkPool
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


# ---- names must be visible ---------------------------------------------------------------------
JOINERS = {"\u200c", "\u200d"}
# Characters that draw as nothing or as blank: zero-width and format characters, tags,
# variation selectors and other default-ignorables, Hangul fillers, the braille blank,
# combining marks, and whitespace.
INVISIBLE = [
    "\u200b", "\u200c", "\u200d", "\u200e", "\u2060", "\u2063", "\ufeff", "\u00ad", "\u180e",
    "\u034f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\ufe0f", "\ufe00",
    "\U000e0100", "\U000e0001", "\U000e0041", "\U000e007f", "\U0001d173", "\u0301", "\u20e3",
    " ", "\u00a0", "\u3000", "\u2003", "\t",
]  # fmt: skip


def name_of(value: str) -> str:
    return check_text(value, max_length=64, multiline=False)


@given(st.text(max_size=40))
def test_an_accepted_name_shows_something_and_hides_nothing(value: str) -> None:
    try:
        name = name_of(value)
    except ValueError:
        return
    assert any(unicodedata.category(c)[0] in "LNPS" and c != "\u2800" for c in name)
    for pos, char in enumerate(name):
        category = unicodedata.category(char)
        assert category != "Cf" or char in JOINERS or 0xE0020 <= ord(char) <= 0xE007F, ascii(name)
        assert not is_default_ignorable(char) or category in ("Mn", "Cf"), ascii(name)
        assert category[0] != "M" or (pos > 0 and not name[pos - 1].isspace()), ascii(name)
    assert name_of(name) == name  # what is stored passes again


@given(st.text(st.sampled_from(INVISIBLE), min_size=1, max_size=20))
def test_names_of_only_invisible_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        name_of(value)


@given(
    st.sampled_from(["Ana Lima", "Zoë", "李小龍", "Team 🙂", "Ole-Gunnar"]),
    st.sampled_from([c for c in INVISIBLE if unicodedata.category(c) == "Cf" or c == "\u3164"]),
    st.integers(min_value=0, max_value=20),
)
def test_a_hidden_character_anywhere_in_a_name_is_refused(name: str, hidden: str, at: int) -> None:
    """Ana Lima and "Ana Lima" with a zero-width space inside must not both exist."""
    at = min(at, len(name))
    with pytest.raises(ValueError):
        name_of(name[:at] + hidden + name[at:])


@pytest.mark.parametrize(
    "name",
    [
        "Ana Lima",
        "Am\u00e9lie",
        "Ame\u0301lie",  # composed by NFC
        "Nguy\u1ec5n V\u0103n A",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family: ZWJ between emoji
        "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag: emoji, VS16, ZWJ, emoji
        "\U0001f469\U0001f3fd\u200d\U0001f4bb",  # skin tone before the ZWJ
        "Ana \u2764\ufe0f\u200d\U0001f525",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
        "#\ufe0f\u20e3 hash",  # keycap
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ in joining context
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ after virama
        "\u0dc1\u0dca\u200d\u0dbb\u0dd3",  # Sinhala "Sri": ZWJ after al-lakuna
        "\u0c28\u0c4d\u200c\u0c28",  # Telugu: ZWNJ after virama
        "\u182e\u1823\u1829\u182d\u1823\u182f\u180b",  # Mongolian free variation selector
        "\u845b\U000e0100",  # ideographic variation sequence
        "\uc548\ub155",  # Korean (precomposed syllables, no fillers)
        "\u2603",
    ],
    ids=ascii,
)
def test_names_real_scripts_and_emoji_need_are_accepted(name: str) -> None:
    assert name_of(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    "name",
    [
        "\u200b",
        "\u3164",
        "\u115f\u1160",
        "\uffa0\uffa0",
        "\u2800\u2800",
        "\ufe0f",
        "\u0301\u0302",
        "\U000e0041\U000e006e\U000e0061",  # "Ana" in tags
        "\ue000",  # private use only
        "Ana\u200b",
        "A\u200dna",  # ZWJ between Latin letters
        "Auf\u200clage",  # ZWNJ outside a joining script
        "\u200d\U0001f469",  # ZWJ with no emoji before it
        "Ana\u3164",
        "Ana\u2800",
        "Ana \u0301",
        "Ana\U000e0041",
        "\U0001f3f4\U000e0067\U000e0062",  # tag sequence without its cancel tag
        "Ana\u00ad",
        "\u2062Ana",
    ],
    ids=ascii,
)
def test_invisible_or_hiding_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        name_of(name)
    with pytest.raises(ValidationError):
        SignUp(username="ana", full_name=name, password="password1")


def test_message_bodies_keep_their_rules() -> None:
    """Only names are held to the visibility rules: a message may carry any format character
    real text uses (joiners, soft hyphens ...), on several lines."""
    body = "Auf\u200clage\n\U0001f468\u200d\U0001f469 soft\u00adhyphen"
    assert SendMessage(room="r", body=body, client_id="c1").body == body


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


async def test_rate_limiter_refuses_past_the_limit_and_resets() -> None:
    counters = MemoryRateCounters(ManualClock())
    limiter = RateLimiter(counters, "test", limit=3, window=60)
    for _ in range(3):
        await limiter.hit("k", "slow down")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("k", "slow down")
    assert refused.value.retry_after == 60  # the clock stood still: the oldest is 60 s away
    await limiter.hit("other", "slow down")  # keys are independent
    # and so are limiters over the same counters
    await RateLimiter(counters, "another", limit=3, window=60).hit("k", "slow down")
    await limiter.reset("k")
    await limiter.hit("k", "slow down")


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


# ---- bounded pools ----------------------------------------------------------------------------
async def test_a_full_pool_refuses_at_once_and_frees_its_places() -> None:
    pool = WorkPool("test work", workers=1, queue=1, retry_after=2)
    release = threading.Event()
    running = [asyncio.ensure_future(pool.run(release.wait, 10)) for _ in range(2)]
    await asyncio.sleep(0)  # both take their place before their first await
    assert pool.admitted == 2
    with pytest.raises(Busy) as refused:
        await pool.run(release.wait, 10)
    assert refused.value.status == 503 and refused.value.code == "server_busy"
    assert refused.value.retry_after == 2
    release.set()
    assert await asyncio.gather(*running) == [True, True]
    assert pool.admitted == 0
    assert await pool.run(sum, [1, 2]) == 3
