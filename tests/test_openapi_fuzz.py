"""Schemathesis fuzzes every HTTP operation of a real server, logged in: never a 5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import SERVER_ENV
from tests.support import PASSWORD, ServerProcess, chinwag_admin, run_server_on, unique_name

# The fuzzer fails many log-ins from 127.0.0.1; with the default address throttle it would soon
# see nothing but 429s and stop reaching the password check, so give it room.
FUZZ_ENV = {**SERVER_ENV, "CHINWAG_LOGIN_FAILURES_PER_ADDRESS": "100000"}
EXAMPLES = 25  # per operation, per mode (positive, negative) and per kind of room

# Checks that hold for this API and any input:
# - not_a_server_error: never a 5xx;
# - negative_data_rejection: input that breaks the schema is not accepted with a 2xx;
# - status_code_conformance, content_type_conformance, response_schema_conformance: every
#   answer, refusals included, is documented (create_app declares the error envelope for
#   400/401/403/404/409/413/415/422/429 on every route).
# Left off:
# - response_headers_conformance: no response headers are declared, so nothing to check;
# - positive_data_acceptance: schema-valid input still names rooms and users that do not exist;
# - max_response_time: a timing assertion; slow is not wrong here;
# - ignored_auth, missing_required_header: the schema declares no security scheme or header
#   (the session cookie and X-CSRF-Token are enforced in code), so they have nothing to test;
# - unsupported_method: it judges only the coverage phase's cases, which these strategies
#   (Hypothesis fuzzing) do not make, so it would pass without looking;
# - use_after_free, ensure_resource_availability: stateful checks, and no stateful phase runs.
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Two operations would log the shared fuzzing user out and turn every later case into a 401
# that proves nothing: ending the session (DELETE /api/session) gets a fresh user for every
# case, and changing the password (which ends the user's *other* sessions) a user of its own.
LOGS_OUT = "DELETE /api/session"
ENDS_OTHER_SESSIONS = "PUT /api/me/password"


@dataclass
class Credentials:
    username: str
    cookies: dict[str, str]
    headers: dict[str, str]


def sign_up(base_url: str) -> Credentials:
    username = unique_name("fz")
    body = {"username": username, "full_name": "Fuzz", "password": PASSWORD}
    response = httpx.post(f"{base_url}/api/users", json=body, timeout=15)
    assert response.status_code == 201, response.text
    return Credentials(
        username=username,
        cookies={"chinwag_session": response.cookies["chinwag_session"]},
        headers={"X-CSRF-Token": response.json()["csrf_token"]},
    )


def post(base_url: str, who: Credentials, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{base_url}{path}", json=body, cookies=who.cookies, headers=who.headers, timeout=15
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


@dataclass
class Fuzz:
    """Runs Hypothesis over operations and keeps what came back."""

    base_url: str
    me: Credentials
    password_changer: Credentials
    admin: Credentials  # reads the admin API (its writes would delete the fuzzer's users)
    statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def run(self, operation: Any, mode: GenerationMode, **path: str) -> None:
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path or None))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # the same cases on every run
            database=None,  # and no replay of failures saved by an earlier run
            # No per-example deadline: a slow request is not a bug, and timing makes tests
            # flaky; the pytest timeout bounds the whole run instead.
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            who = self.me
            if operation.label == LOGS_OUT:
                who = sign_up(self.base_url)
            elif operation.label == ENDS_OTHER_SESSIONS:
                who = self.password_changer
            elif operation.label.startswith("GET /api/admin/"):
                who = self.admin
            response = case.call(headers=who.headers, cookies=who.cookies, timeout=30)
            self.statuses[(operation.label, mode.value, response.status_code)] += 1
            if response.status_code in (401, 403):
                self.refusals[response.json()["error"]["code"]] += 1
            case.validate_response(response, checks=CHECKS, headers=who.headers)

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing to break: no parameters or body, or only free-form strings in the path.
            if mode is not GenerationMode.NEGATIVE:
                self.failures.append(f"{operation.label} ({mode}, {path}): no cases")
        except Exception as exc:  # collect every operation's failure, then report them all
            self.failures.append(f"{operation.label} ({mode}, {path}):\n{exc}")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of its own: the fuzzer's users, rooms and failed log-ins stay out of the others'."""
    data_dir: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with run_server_on(request.param, data_dir, FUZZ_ENV) as proc:
        yield proc


def site_admin(server: ServerProcess) -> Credentials:
    who = sign_up(server.url)
    made = chinwag_admin(server, "create-admin", who.username)
    assert made.returncode == 0, made.stderr
    return who


# about 50 s on a quiet 2-core machine; the bound is for a hang, not a speed
@pytest.mark.timeout(300)
def test_api_never_answers_5xx(fuzz_server: ServerProcess) -> None:
    # schemathesis.pytest.from_fixture would be the idiomatic loader, but its lazy loader
    # writes Node._nodeid, which pytest 9 no longer has; so each operation gets a Hypothesis
    # test of its own here, built from the operation's strategy.
    url = fuzz_server.url
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    fuzz = Fuzz(url, me=sign_up(url), password_changer=sign_up(url), admin=site_admin(fuzz_server))
    friend = sign_up(url)
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        for mode in GenerationMode:
            fuzz.run(operation, mode)
            if "{code}" not in operation.path:
                continue
            # Generated codes name no room, so also fuzz the rest of the request inside a real
            # one (a fresh room each time: the fuzzer may leave or destroy it), and with a real
            # member on the other end of a private conversation.
            code = post(url, fuzz.me, "/api/rooms", {"name": "Fuzzed"})["code"]
            post(url, friend, "/api/rooms/join", {"code": code})
            fuzz.run(operation, mode, code=code)
            if "{username}" in operation.path:
                fuzz.run(operation, mode, code=code, username=friend.username)

    assert not fuzz.failures, "\n\n".join(fuzz.failures)
    assert len(labels) >= 20, labels
    # Every operation was reached, and as the logged-in user: never refused for want of a
    # session or a CSRF token, which would stop a case before any handler ran.
    assert {label for label, _, _ in fuzz.statuses} == set(labels)
    assert fuzz.refusals["not_authenticated"] == fuzz.refusals["csrf_failed"] == 0, fuzz.refusals
    passed = {label for label, _, status in fuzz.statuses if status < 300}
    assert {
        "GET /api/me",
        "PATCH /api/me",
        "POST /api/rooms",
        "GET /api/rooms/{code}/messages",
        "GET /api/rooms/{code}/dms/{username}/messages",
        "GET /api/rooms/{code}/users",
        "GET /api/admin/users",
    } <= passed, sorted(passed)
    # and broken input was sent too, and refused as such.
    refused = {
        label for label, mode, status in fuzz.statuses if mode == "negative" and status == 422
    }
    assert {"POST /api/users", "PATCH /api/me", "GET /api/rooms/{code}/messages"} <= refused


# ---- inputs the fuzzer seldom draws ------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/rooms/{code}/dms/a%00b/messages",  # was a 500 on PostgreSQL
        "/api/rooms/{code}%00/messages",
        "/api/rooms/{code}/users?q=a%00",
        "/api/rooms/{code}/messages?before=1&x=%00",
        "/media/avatars/%00.webp",
        "/%00",
    ],
)
def test_a_nul_in_the_url_is_refused_as_bad_input(fuzz_server: ServerProcess, path: str) -> None:
    # PostgreSQL cannot compare text holding NUL; the server refuses such URLs up front.
    me = sign_up(fuzz_server.url)
    code = post(fuzz_server.url, me, "/api/rooms", {"name": "Nul"})["code"]
    with httpx.Client(base_url=fuzz_server.url, cookies=me.cookies, timeout=15) as client:
        response = client.get(path.format(code=code))
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "bad_request"
        # and the same connection goes on working
        assert client.get(f"/api/rooms/{code}/messages").status_code == 200


# Any visible byte a header value may carry, ASCII or not (obs-text): the schema declares neither
# the session cookie nor X-CSRF-Token, so the fuzzer above only ever sends the right ones.
header_values = st.binary(min_size=1, max_size=80).map(
    lambda raw: bytes(b if 0x21 <= b <= 0x7E or b >= 0x80 else 0x41 for b in raw)
)


def test_any_csrf_token_or_session_cookie_is_refused_not_a_server_error(
    fuzz_server: ServerProcess,
) -> None:
    me = sign_up(fuzz_server.url)
    cookie = f"chinwag_session={me.cookies['chinwag_session']}".encode()

    @given(value=header_values)
    @settings(max_examples=50, derandomize=True, database=None, deadline=None)
    def forged(value: bytes) -> None:
        with httpx.Client(base_url=fuzz_server.url, timeout=15) as client:
            csrf = [(b"cookie", cookie), (b"x-csrf-token", value)]
            response = client.patch("/api/me", json={"full_name": "Forged"}, headers=csrf)
            assert response.status_code == 403, (value, response.text)  # a non-ASCII one was a 500
            assert response.json()["error"]["code"] == "csrf_failed"
            session = [(b"cookie", b"chinwag_session=" + value)]
            response = client.get("/api/me", headers=session)
            assert response.status_code == 401, (value, response.text)
            assert response.json()["error"]["code"] == "not_authenticated"

    forged()
