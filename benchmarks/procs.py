"""Processes the benchmarks start or watch: CPU time and memory from /proc, core pinning,
free ports, open-file limits, and the PIDs of the shared PostgreSQL and Redis."""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVER_CORE = 0
LOAD_CORE = 1


def raise_open_files() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# decided once, before this process pins itself to one core
CORES = len(os.sched_getaffinity(0))
PIN = CORES >= 2 and {SERVER_CORE, LOAD_CORE} <= os.sched_getaffinity(0)


def can_pin() -> bool:
    return PIN


def pin_self_to_load_core() -> None:
    """The load generator runs on core 1, servers on core 0 (when there are two cores)."""
    if can_pin():
        os.sched_setaffinity(0, {LOAD_CORE})


def pinned(command: list[str]) -> list[str]:
    """``command`` run on the server core through taskset (which execs it: same PID)."""
    return ["taskset", "-c", str(SERVER_CORE), *command] if can_pin() else command


def free_port() -> int:
    """A free loopback port below the ephemeral range (no outgoing connection takes it)."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        port = random.randrange(10_000, max(10_001, ephemeral_low - 1))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("found no free port")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc/<pid>/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    # after "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based in proc(5))
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class CpuMeter:
    """CPU consumed by a set of PIDs between ``start`` and ``stop``; a PID that appears
    later (a new database backend) is counted from zero."""

    pids: list[int]
    started: dict[int, float] | None = None

    def start(self) -> None:
        self.started = {pid: cpu_seconds(pid) for pid in self.pids}

    def read(self, pids: list[int] | None = None) -> float:
        assert self.started is not None, "start() first"
        return sum(cpu_seconds(pid) - self.started.get(pid, 0.0) for pid in (pids or self.pids))


def processes_named(comm: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() == comm:
                found.append(int(entry.name))
    return found


def redis_pids(port: int = 6379) -> list[int]:
    """The redis-server serving ``port`` (shared with anything else using it)."""
    pids = []
    for pid in processes_named("redis-server"):
        with contextlib.suppress(OSError):
            if f":{port}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
    return pids


def postgres_backend_pids(database: str) -> list[int]:
    """The PostgreSQL backends connected to ``database`` now (only ours use it)."""
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-qAtc",
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'",  # noqa: S608 - our name
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [int(line) for line in out.split()]


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qAtc", sql],
        check=True,
        capture_output=True,
    )


PROFILE_DIR = "BENCH_PROFILE"  # env: a folder; each window's profiles go there
PROFILER = "BENCH_PROFILER"  # env: "py-spy" (the default) or "perf"


def _profiler_command(pid: int) -> list[str] | None:
    """py-spy's raw (collapsed) Python stacks, or perf's native and kernel samples."""
    if os.environ.get(PROFILER, "py-spy") == "perf":
        perf = shutil.which("perf")
        return None if perf is None else [perf, "record", "-F", "999", "-g", "-p", str(pid)]
    venv = str(Path(sys.executable).parent)
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=venv)
    if spy is None:
        return None
    return [spy, "record", "-f", "raw", "-r", "250", "--nonblocking", "-p", str(pid)]


class WindowProfiler:
    """With ``BENCH_PROFILE=<dir>`` set, record every server process over one measurement
    window: ``<dir>/<n>-<pid>.txt``, n counting the windows. Without it (or without the
    tool) it does nothing. A profiler slows the server: a profiled run's figures are not
    the benchmark's."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        folder = os.environ.get(PROFILE_DIR)
        if not folder:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        n = len({path.name.split("-")[0] for path in Path(folder).glob("*-*.txt")})
        for pid in self.pids:
            command = _profiler_command(pid)
            if command is None:
                return
            out = Path(folder) / f"{n:03d}-{pid}.txt"
            self.running.append(
                subprocess.Popen(
                    [*command, "-o", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for proc in self.running:
            proc.send_signal(signal.SIGINT)  # both write their file on SIGINT
        for proc in self.running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.running = []
