"""What a node counts, for Prometheus: one registry per app, read at ``/metrics``.

The namespace, the publisher and the error mappers call the small methods here
(``event_in``, ``ack``, ``delivered`` ...); what is a state rather than a count (live
connections, the database pool, the fan-out listener) is read when Prometheus scrapes,
through callbacks. Nothing outside this module touches ``prometheus_client``. Every name is
listed, with its meaning, in docs/deploy.md ("Metrics").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from chinwag.backends.fanout import Fanout
    from chinwag.db.engine import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from publish to delivery: one node takes well under a millisecond, Redis a few.
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Label value for a client event name that is no event (so clients cannot mint label values).
UNKNOWN_EVENT = "unknown"


class Live(Protocol):
    def active_count(self) -> int: ...


class Gauges(Collector):
    """Gauges read at scrape time from the callbacks the app hands in once it is built."""

    def __init__(self) -> None:
        self.connections: Callable[[], int] = lambda: 0
        self.pool: Callable[[], tuple[int, int, int]] | None = None  # (checked out, size, idle)
        self.fanout_joined: Callable[[], bool] = lambda: False
        self.fanout_shared = False  # Redis (True) or this process's memory

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "chinwag_socket_connections",
            "Logged-in Socket.IO connections on this node.",
            value=self.connections(),
        )
        joined = GaugeMetricFamily(
            "chinwag_fanout_listener_up",
            "1 while this node hears the fan-out (always 1 in memory), 0 while it does not.",
            labels=["backend"],
        )
        joined.add_metric(["redis" if self.fanout_shared else "memory"], int(self.fanout_joined()))
        yield joined
        if self.pool is not None:
            checked_out, size, idle = self.pool()
            yield GaugeMetricFamily(
                "chinwag_db_pool_checked_out",
                "Database connections in use now.",
                value=checked_out,
            )
            yield GaugeMetricFamily(
                "chinwag_db_pool_size",
                "Database connections the pool keeps open (without overflow).",
                value=size,
            )
            yield GaugeMetricFamily(
                "chinwag_db_pool_idle",
                "Database connections open and waiting in the pool.",
                value=idle,
            )


class Metrics:
    def __init__(self, client_events: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.client_events = frozenset(client_events)
        self.gauges = Gauges()
        self.registry.register(self.gauges)
        self._children: dict[tuple[int, tuple[str, ...]], Counter] = {}
        self._events_in = Counter(
            "chinwag_socket_events_received",
            "Socket.IO events received from clients, by event name.",
            ["event"],
            registry=self.registry,
        )
        self._acks = Counter(
            "chinwag_socket_acks",
            "Acks sent for client events, by event and outcome (ok or the error code).",
            ["event", "outcome"],
            registry=self.registry,
        )
        self._published = Counter(
            "chinwag_events_published",
            "Server events this node published to the fan-out, by event name.",
            ["event"],
            registry=self.registry,
        )
        self._deliveries = Counter(
            "chinwag_event_deliveries",
            "Server events this node sent to its own connections (one per connection), by "
            "event name.",
            ["event"],
            registry=self.registry,
        )
        frames = Counter(
            "chinwag_socket_frames",
            "Event frames this node sent to its connections, by path: written straight to a "
            "websocket (direct) or through python-engineio's per-socket queue (queued: "
            "long-polling, an upgrade under way, or packets still waiting on that socket).",
            ["path"],
            registry=self.registry,
        )
        self._frames_direct = frames.labels("direct")
        self._frames_queued = frames.labels("queued")
        self._lag = Histogram(
            "chinwag_fanout_lag_seconds",
            "Seconds from an event's publish (on any node) to its delivery on this node "
            "(wall clocks: between nodes it includes their clock difference).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._publish_failures = Counter(
            "chinwag_fanout_publish_failures",
            "Messages that could not be handed to the fan-out (Redis unreachable).",
            registry=self.registry,
        )
        self._refusals = Counter(
            "chinwag_rate_limit_refusals",
            "Requests and events refused by a rate limit, by the limit's name.",
            ["limiter"],
            registry=self.registry,
        )

    def watch(self, connections: Live, db: Database, fanout: Fanout, *, shared: bool) -> None:
        """Read these when Prometheus scrapes: live connections, the pool, the listener."""
        self.gauges.connections = connections.active_count
        self.gauges.fanout_joined = lambda: fanout.joined
        self.gauges.fanout_shared = shared
        pool = db.engine.pool
        if isinstance(pool, QueuePool):
            self.gauges.pool = lambda: (pool.checkedout(), pool.size(), pool.checkedin())

    # ---- what the app counts -----------------------------------------------------------------
    def _event_label(self, event: str) -> str:
        return event if event in self.client_events else UNKNOWN_EVENT

    def event_in(self, event: str) -> None:
        self._child(self._events_in, self._event_label(event)).inc()

    def ack(self, event: str, outcome: str) -> None:
        self._child(self._acks, self._event_label(event), outcome).inc()

    def published(self, event: str) -> None:
        self._child(self._published, event).inc()

    def publish_failed(self) -> None:
        self._publish_failures.inc()

    def delivered(self, event: str, connections: int, lag: float | None) -> None:
        if connections:
            self._child(self._deliveries, event or UNKNOWN_EVENT).inc(connections)
        if lag is not None:
            self._lag.observe(max(lag, 0.0))

    def framed(self, direct: int, queued: int) -> None:
        if direct:
            self._frames_direct.inc(direct)
        if queued:
            self._frames_queued.inc(queued)

    def refused(self, limiter: str) -> None:
        self._child(self._refusals, limiter or UNKNOWN_EVENT).inc()

    def _child(self, metric: Counter, *values: str) -> Counter:
        """``metric.labels(*values)``, looked up once: ``labels()`` takes a lock and builds
        its key on every call, and it runs several times per message. Label values are
        bounded (event names from the catalog, error codes, limiter names)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # ---- the page ----------------------------------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)
