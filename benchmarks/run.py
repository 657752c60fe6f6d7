"""Run every benchmark scenario against Chinwag and the Node.js socket.io reference.

    python -m benchmarks.run [--scale 0.1 | --quick] [--only a,b,c,d,e,f,x] [--no-reference]

Writes benchmarks/results/<UTC time>.json (and latest.json), the latency plot
(docs/performance-latency.png unless --plot says otherwise) and prints Markdown tables.
The servers run on core 0 and this load generator on core 1 (when there are two cores).
See docs/performance.md for how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import procs, report, scenarios
from benchmarks.targets import Chinwag, Reference, Target, reference_available
from chinwag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PLOT = ROOT / "docs" / "performance-latency.png"

Scenario = Callable[[Target, scenarios.Sizes], Awaitable[dict[str, Any]]]
# key -> (title, scenario, the Chinwag shapes it runs against besides the reference)
PLAN: dict[str, tuple[str, Scenario, list[Callable[[], Target]]]] = {
    "x": ("cross-check with the official client", scenarios.cross_check, [Chinwag]),
    "a": ("rooms × clients, stepped rates", scenarios.rooms_stepped, [Chinwag]),
    "f": ("clients entering one room, then (b) one sender", scenarios.big_room, [Chinwag]),
    "c": ("connections: connects/s and memory", scenarios.connections, [Chinwag]),
    "d": (
        "ingest: closed-loop senders, stored and acked",
        scenarios.ingest,
        [Chinwag, lambda: Chinwag("postgres")],
    ),
    "e": (
        "one node vs two nodes through Redis",
        scenarios.nodes,
        [lambda: Chinwag("postgres"), lambda: Chinwag("postgres", nodes=2)],
    ),
}
ALIASES = {"b": "f"}  # (b) runs on (f)'s room, after every client entered it


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scale", type=float, default=1.0, help="sizes × this (default 1)")
    parser.add_argument(
        "--quick", action="store_true", help="the smallest sizes (--scale 0.01): a smoke run"
    )
    parser.add_argument("--only", default="", help="comma-separated scenarios: a,b,c,d,e,f,x")
    parser.add_argument("--no-reference", action="store_true", help="skip the Node reference")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument("--plot", type=Path, default=PLOT, help="where the latency PNG goes")
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale = 0.01
    if not 0 < args.scale <= 10:
        parser.error("--scale must be above 0 and at most 10")
    wanted = [ALIASES.get(k.strip(), k.strip()) for k in args.only.split(",") if k.strip()]
    unknown = sorted(set(wanted) - set(PLAN))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from a,b,c,d,e,f,x")
    args.keys = [k for k in PLAN if not wanted or k in wanted]
    return args


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": model,
        "cores": procs.CORES,
        "pinned": procs.can_pin(),
        "python": platform.python_version(),
        "node": node.stdout.strip(),
        "commit": commit,
        # the Socket.IO server under Chinwag: the environment's choice, else the default
        "socket_server": os.environ.get("CHINWAG_SOCKET_SERVER")
        or Settings.model_fields["socket_server"].default,
    }


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sizes = scenarios.Sizes.for_scale(args.scale)
    why_not = "skipped (--no-reference)" if args.no_reference else reference_available()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "sizes": sizes.__dict__,
        "machine": machine(),
        "reference": why_not or "ran",
        "scenarios": {},
    }
    began = time.perf_counter()
    for key in args.keys:
        title, scenario, shapes = PLAN[key]
        targets: list[Callable[[], Target]] = list(shapes)
        if why_not is None:
            targets.insert(0, Reference)
        entry: dict[str, Any] = {"title": title, "targets": {}}
        results["scenarios"][key] = entry
        for make in targets:
            target = make()
            print(f"[{key}] {title}: {target.label} ...", file=sys.stderr, flush=True)
            at = time.perf_counter()
            try:
                outcome = await scenario(target, sizes)
            except Exception as error:
                traceback.print_exc()
                outcome = {"error": f"{type(error).__name__}: {error}"}
                await target.stop()
            outcome["scenario_s"] = round(time.perf_counter() - at, 1)
            entry["targets"][target.label] = outcome | {"kind": target.name}
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    procs.raise_open_files()
    procs.pin_self_to_load_core()
    try:
        import uvloop
    except ImportError:
        results = asyncio.run(run_all(args))
    else:
        results = uvloop.run(run_all(args))
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = results["started"].replace(":", "").replace("-", "")
    path = args.results / f"{stamp}.json"
    text = json.dumps(results, indent=1, sort_keys=False)
    path.write_text(text)
    (args.results / "latest.json").write_text(text)
    if not args.no_plot:
        report.plot(results, args.plot)
    print(report.markdown(results))
    print(f"\nresults: {path}" + ("" if args.no_plot else f"\nplot: {args.plot}"))
    failed = [f"{key}: {label}" for key, label, _ in report.failures(results)]
    if failed:
        print("scenarios that failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
