"""Idle probe: what a node costs while its clients are connected and in rooms but quiet.

(e)'s rooms (20 × 50 clients) on one node and on two nodes through Redis, nobody sending:
server CPU over ``--seconds`` (every node counted) and Redis's. What this costs is the floor
under (e)'s CPU per delivery.

    .venv/bin/python -m benchmarks.idle_probe [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio

from benchmarks import procs
from benchmarks.load import Window
from benchmarks.scenarios import Sizes, layout, session
from benchmarks.targets import Chinwag


async def idle(target: Chinwag, sizes: Sizes, seconds: float) -> dict[str, float]:
    async with session(target, layout(sizes.e_rooms, sizes.e_members), sizes) as s:
        await asyncio.sleep(2.0)  # the enters' presence batches settle
        window = Window(s.target.server_pids(), s.target.helper_pids)
        window.start()
        await asyncio.sleep(seconds)
        result = window.stop()
    return {k: v for k, v in result.items() if k.endswith("_cpu_s") or k == "wall_s"}


async def main(seconds: float) -> None:
    sizes = Sizes.for_scale(1.0)
    for target in (Chinwag("postgres"), Chinwag("postgres", nodes=2)):
        result = await idle(target, sizes, seconds)
        wall = result["wall_s"]
        shares = ", ".join(
            f"{k[:-6]} {1000 * v / wall:.1f} ms/s" for k, v in result.items() if k != "wall_s"
        )
        print(f"{target.name}: {shares}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    procs.raise_open_files()
    procs.pin_self_to_load_core()
    asyncio.run(main(args.seconds))
