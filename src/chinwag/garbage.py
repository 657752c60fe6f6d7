"""Python's garbage collector: thresholds, a freeze after start-up, and its pauses measured.

A chat server keeps many long-lived objects (connections, their sockets and sessions, the
ORM's and the app's own) and makes short-lived ones per event. CPython's cyclic collector
stops the event loop while it walks a generation; a full collection walks every tracked
object, so on a loaded node it lasts hundreds of milliseconds, and every message waits.

- ``gc.freeze()`` once start-up is done moves everything made so far (modules, the app,
  settings, pools) out of the collector's sight: no collection walks it again.
- Higher thresholds make the youngest generation's collections rarer (each costs about the
  same whatever the threshold: it walks only the young, and most of them are already freed
  by reference counting), and full collections rarer still.
- Every collection's pause is timed (``chinwag_gc_pause_seconds``), and one past
  ``SLOW_PAUSE_SECONDS`` is logged, so an operator can see what the settings do.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

from chinwag.logs import get_logger

log = get_logger(__name__)

SLOW_PAUSE_SECONDS = 0.05
PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GcPauses:
    """Times each collection through ``gc.callbacks``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "chinwag_gc_pause_seconds",
            "How long each garbage collection stopped this node, by generation.",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self._by_generation = [self.histogram.labels(str(g)) for g in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        self._by_generation[generation].observe(pause)
        if pause >= SLOW_PAUSE_SECONDS:
            log.warning(
                "gc.slow_pause",
                generation=generation,
                pause_ms=round(pause * 1000, 1),
                collected=info.get("collected"),
            )

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


def tune(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(*thresholds)


def freeze_startup() -> None:
    """Collect once, then move every object alive now to the permanent generation."""
    gc.collect()
    gc.freeze()
    log.info("gc.frozen", objects=gc.get_freeze_count(), thresholds=list(gc.get_threshold()))
