"""The garbage collector's settings: thresholds refused when they cannot be, applied and frozen
after start-up when they can, and every collection's pause counted in ``/metrics``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess, run_server
from tests.test_cli import chinwag, refused


@pytest.mark.parametrize("given", ["700,10", "a,b,c", "0,10,10", "700,-1,10"])
def test_thresholds_that_are_not_three_counts_are_refused(tmp_path: Path, given: str) -> None:
    env = {"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_GC_THRESHOLDS": given}
    (error,) = refused(chinwag("migrate", env=env))
    assert error.startswith("CHINWAG_GC_THRESHOLDS: "), error
    assert "gen0" in error


def pause_counts(server: ServerProcess) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics").text
    found = re.findall(r'^chinwag_gc_pause_seconds_count\{generation="(\d)"\} (\S+)$', text, re.M)
    return {generation: float(count) for generation, count in found}


def test_a_started_server_applies_its_thresholds_freezes_and_counts_collections(
    tmp_path: Path,
) -> None:
    env = {"CHINWAG_GC_THRESHOLDS": "100,5,5", "CHINWAG_LOG_FORMAT": "json"}
    with run_server(tmp_path, env) as server:
        for _ in range(20):  # requests make objects: young collections at this threshold
            assert httpx.get(f"{server.url}/api/openapi.json").status_code == 200
        counts = pause_counts(server)
        log = server.log()
    assert set(counts) == {"0", "1", "2"}
    assert counts["0"] > 0
    frozen = [line for line in log.splitlines() if '"gc.frozen"' in line]
    assert len(frozen) == 1, log
    assert '"thresholds": [100, 5, 5]' in frozen[0]
    assert re.search(r'"objects": [1-9]\d*', frozen[0])


def test_freezing_can_be_turned_off(tmp_path: Path) -> None:
    env = {"CHINWAG_GC_FREEZE": "false", "CHINWAG_LOG_FORMAT": "json"}
    with run_server(tmp_path, env) as server:
        log = server.log()
    assert '"gc.frozen"' not in log
