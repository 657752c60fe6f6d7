"""The connection registry's rules, one by one (chinwag.realtime.registry).

The races they close are driven against real servers in test_live_authorization.py; here
each rule is shown on its own, with a clock the test moves.
"""

from __future__ import annotations

import pytest

from chinwag.realtime import registry as registry_module
from chinwag.realtime.registry import TOMBSTONE_SECONDS, ConnectionRegistry
from chinwag.services.realtime import Audience, MemberRevoked, Removed, RoomGone, SessionEnded

ROOM, OTHER_ROOM = 7, 8
ANA, BO = 1, 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry_with(*conns: tuple[str, str, int]) -> tuple[ConnectionRegistry, Clock]:
    """A registry with active connections (conn id, session id, user id), each in ROOM."""
    clock = Clock()
    registry = ConnectionRegistry(clock)
    for conn_id, session_id, user_id in conns:
        registry.open(conn_id, session_id)
        assert registry.activate(conn_id, user_id, clock.now + 3600)
        assert registry.subscribe(conn_id, ROOM)
        assert registry.confirm(conn_id, ROOM)
    return registry, clock


def test_a_pending_connection_receives_nothing_until_activated() -> None:
    registry = ConnectionRegistry(Clock())
    registry.open("c1", "s1")
    assert registry.targets(Audience.own(ANA)) == []
    assert registry.activate("c1", ANA, 10**10)
    assert registry.targets(Audience.own(ANA)) == ["c1"]


def test_a_session_ended_during_the_handshake_can_never_activate() -> None:
    registry = ConnectionRegistry(Clock())
    registry.open("c1", "s1")
    hold = registry.hold([SessionEnded("s1")])
    assert registry.activate("c1", ANA, 10**10) is False  # held: refused already
    registry.open("c2", "s1")
    removed, to_close = registry.apply(hold)
    assert removed == [] and to_close == ["c1", "c2"]
    assert registry.activate("c2", ANA, 10**10) is False  # applied: refused for good


def test_a_pending_subscription_hears_nothing_and_a_revocation_ends_it() -> None:
    registry, _ = registry_with(("a1", "s1", ANA))
    registry.open("a2", "s2")
    assert registry.activate("a2", ANA, 10**10)
    assert registry.subscribe("a2", OTHER_ROOM)
    assert registry.targets(Audience.room_subscribers(OTHER_ROOM)) == []
    hold = registry.hold([MemberRevoked(ANA, OTHER_ROOM, version=5)])
    registry.apply(hold)
    assert registry.confirm("a2", OTHER_ROOM) is False  # the stale check cannot turn it on
    assert registry.targets(Audience.room_subscribers(OTHER_ROOM)) == []


def test_a_held_revocation_stops_delivery_and_a_release_restores_it() -> None:
    registry, _ = registry_with(("a1", "s1", ANA), ("b1", "s2", BO))
    room = Audience.room_subscribers(ROOM)
    hold = registry.hold([MemberRevoked(ANA, ROOM, version=3)])
    assert registry.targets(room) == ["b1"]
    assert registry.targets(Audience.members(ROOM, [ANA], version=9)) == []
    assert registry.targets(Audience.own(ANA)) == ["a1"]  # her own notices still reach her
    registry.release(hold)
    assert registry.targets(room) == ["a1", "b1"]


def test_applying_a_leave_ends_the_subscriptions_and_drops_older_events() -> None:
    registry, clock = registry_with(("a1", "s1", ANA), ("a2", "s3", ANA), ("b1", "s2", BO))
    hold = registry.hold([MemberRevoked(ANA, ROOM, version=3)])
    removed, to_close = registry.apply(hold)
    assert removed == [Removed("a1", ANA, ROOM), Removed("a2", ANA, ROOM)] and to_close == []
    assert registry.targets(Audience.room_subscribers(ROOM)) == ["b1"]
    # a private event checked before the leave, still in flight: dropped
    assert registry.targets(Audience.members(ROOM, [ANA, BO], version=2)) == ["b1"]
    # one checked after she joined again (a later version): delivered
    assert registry.targets(Audience.members(ROOM, [ANA], version=4)) == ["a1", "a2"]
    clock.now += TOMBSTONE_SECONDS + 1  # the tombstone is forgotten in time
    assert registry.targets(Audience.members(ROOM, [ANA], version=2)) == ["a1", "a2"]


def test_a_destroyed_room_delivers_nothing_and_cannot_be_entered() -> None:
    registry, _ = registry_with(("a1", "s1", ANA), ("b1", "s2", BO))
    registry.open("b2", "s4")
    assert registry.activate("b2", BO, 10**10) and registry.subscribe("b2", ROOM)  # pending
    removed, _ = registry.apply(registry.hold([RoomGone(ROOM)]))
    assert sorted(r.conn_id for r in removed) == ["a1", "b1"]  # the pending one ended too
    assert registry.confirm("b2", ROOM) is False
    assert registry.targets(Audience.room_subscribers(ROOM)) == []
    assert registry.targets(Audience.members(ROOM, [ANA], version=99)) == []
    assert registry.subscribe("a1", ROOM) is False
    assert registry.targets(Audience.own(ANA, BO)) == ["a1", "b1", "b2"]


def test_nothing_is_delivered_past_a_sessions_expiry() -> None:
    clock = Clock()
    registry = ConnectionRegistry(clock)
    registry.open("c1", "s1")
    assert registry.activate("c1", ANA, clock.now + 5)
    assert registry.targets(Audience.own(ANA)) == ["c1"]
    clock.now += 5
    assert registry.targets(Audience.own(ANA)) == []


def test_an_event_for_several_audiences_reaches_each_connection_once() -> None:
    registry, _ = registry_with(("a1", "s1", ANA), ("b1", "s2", BO))
    assert registry.subscribe("b1", OTHER_ROOM) and registry.confirm("b1", OTHER_ROOM)
    audiences = (
        Audience.own(BO),
        Audience.room_subscribers(ROOM),
        Audience.room_subscribers(OTHER_ROOM),
    )
    assert registry.targets(*audiences) == ["a1", "b1"]


def test_closing_forgets_the_connection_everywhere() -> None:
    registry, _ = registry_with(("a1", "s1", ANA))
    assert registry.close("a1") == [ROOM]
    assert registry.close("a1") == []
    assert registry.targets(Audience.own(ANA), Audience.room_subscribers(ROOM)) == []
    registry.apply(registry.hold([SessionEnded("s1")]))  # nothing of it is left to close
    assert registry.activate("a1", ANA, 10**10) is False


def test_tombstones_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of leaves and destroyed rooms cannot grow the registry without bound."""
    monkeypatch.setattr(registry_module, "MAX_TOMBSTONES", 3)
    registry, _ = registry_with(("a1", "s1", ANA))
    for room in range(100, 110):
        registry.apply(registry.hold([RoomGone(room), MemberRevoked(ANA, room, version=1)]))
    assert registry.tombstones() <= (3, 3)
    # the newest are kept: a just-destroyed room still cannot be entered
    assert registry.subscribe("a1", 109) is False
