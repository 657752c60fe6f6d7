"""Markdown tables and the latency plot from one run's results (benchmarks.run's JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.targets import Reference

REF = Reference.label
SQLITE = "Chinwag (SQLite)"
POSTGRES = "Chinwag (PostgreSQL)"
TWO_NODES = "Chinwag (PostgreSQL, 2 nodes + Redis)"


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or not theirs:
        return "–"
    value = ours / theirs
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def outcome(results: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    found: dict[str, Any] = results["scenarios"].get(key, {}).get("targets", {}).get(label, {})
    return found if "error" not in found else {}


def best(a: dict[str, Any]) -> dict[str, Any]:
    return a.get("best") or {}


def step_at(b: dict[str, Any], rate: float) -> dict[str, Any]:
    return next((s for s in b.get("steps", []) if s["rate_per_sender"] == rate), {})


def summary_rows(results: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """(figure, Chinwag, reference, how to read the ratio) for the headline table."""
    rows: list[tuple[str, Any, Any, str]] = []
    sizes = results["sizes"]
    ref_d, ref_a = outcome(results, "d", REF), outcome(results, "a", REF)
    for label in (SQLITE, POSTGRES):
        d = outcome(results, "d", label)
        if d:
            store = label.split("(")[1].rstrip(")")
            rows.append(
                (
                    f"(d) ingest, {sizes['d_senders']} senders closed-loop, {store}: "
                    "stored + acked msg/s (reference: acked echo)",
                    d.get("acks_per_s"),
                    ref_d.get("acks_per_s"),
                    "higher is better",
                )
            )
            rows.append(
                (
                    f"(d) {store}: server CPU µs per message"
                    + (
                        f" (+ PostgreSQL {fmt(d.get('postgres_us_per_message'))} µs)"
                        if "postgres_us_per_message" in d
                        else ""
                    ),
                    d.get("server_us_per_message"),
                    ref_d.get("server_us_per_message"),
                    "lower is better",
                )
            )
            rows.append(
                (
                    f"(d) {store}: ack p99 ms (stored {fmt(d.get('stored'))} of "
                    f"{fmt(d.get('acked'))} acked)",
                    d.get("ack_p99_ms"),
                    ref_d.get("ack_p99_ms"),
                    "lower is better",
                )
            )
    a = outcome(results, "a", SQLITE)
    if a:
        where = f"{sizes['a_rooms']} rooms × {sizes['a_members']} clients"
        ours, theirs = best(a), best(ref_a)
        rows.append(
            (
                f"(a) {where}: deliveries/s at the best passing step "
                f"(Chinwag {fmt(ours.get('rate_per_sender'))}, reference "
                f"{fmt(theirs.get('rate_per_sender'))} msg/s per room)",
                ours.get("deliveries_per_s"),
                theirs.get("deliveries_per_s"),
                "higher is better",
            )
        )
        rows.append(
            (
                f"(a) {where}: server CPU µs per delivery at that step",
                ours.get("server_us_per_delivery"),
                theirs.get("server_us_per_delivery"),
                "lower is better",
            )
        )
    b, ref_b = outcome(results, "f", SQLITE), outcome(results, "f", REF)
    for rate in sizes["b_rates"]:
        if b:
            ours, theirs = step_at(b, rate), step_at(ref_b, rate)
            rows.append(
                (
                    f"(b) one room of {sizes['b_members']}, 1 sender at {fmt(rate)} msg/s: p99 ms"
                    f" (Chinwag delivered {fmt(ours.get('delivery_ratio'), 4)} of what it owed"
                    f" {fmt(ours.get('recipients'))} entered clients)",
                    ours.get("p99_ms"),
                    theirs.get("p99_ms"),
                    "lower is better",
                )
            )
    c, ref_c = outcome(results, "c", SQLITE), outcome(results, "c", REF)
    if c:
        rows.append(
            (
                f"(c) {sizes['c_conns']:,} connections (rooms of {sizes['c_room']}): connects/s",
                c.get("connects_per_s"),
                ref_c.get("connects_per_s"),
                "higher is better",
            )
        )
        rows.append(
            (
                "(c) server memory KB per connection (RSS after − before, / connections)",
                c.get("kb_per_connection"),
                ref_c.get("kb_per_connection"),
                "lower is better",
            )
        )
    one, two, ref_e = (
        outcome(results, "e", POSTGRES),
        outcome(results, "e", TWO_NODES),
        outcome(results, "e", REF),
    )
    if one or two:
        where = f"{sizes['e_rooms']} rooms × {sizes['e_members']} at {fmt(sizes['e_rate'])} msg/s"
        for label, e in (("1 node", one), ("2 nodes + Redis", two)):
            extra = f"PostgreSQL {fmt(e.get('postgres_us_per_delivery'))} µs"
            if "redis_us_per_delivery" in e:
                extra += f", Redis {fmt(e.get('redis_us_per_delivery'))} µs (counted)"
            rows.append(
                (
                    f"(e) {where}, {label}: server CPU µs per delivery ({extra})",
                    e.get("servers_and_redis_us_per_delivery"),
                    ref_e.get("servers_and_redis_us_per_delivery"),
                    "lower is better",
                )
            )
        if one and two:
            rows.append(
                (
                    "(e) 2 nodes + Redis ÷ 1 node, CPU per delivery (target ≤ 1.2×)",
                    ratio(
                        two.get("servers_and_redis_us_per_delivery"),
                        one.get("servers_and_redis_us_per_delivery"),
                    ),
                    None,
                    "",
                )
            )
    f, ref_f = outcome(results, "f", SQLITE), outcome(results, "f", REF)
    if f:
        fe, re_ = f.get("enter", {}), ref_f.get("enter", {})
        rows.append(
            (
                f"(f) {sizes['b_members']:,} clients entering one room: s until all entered "
                f"(Chinwag: {fmt(fe.get('entered'))} entered, after connecting in "
                f"{fmt(fe.get('connect_s'))} s; reference: connect + enter)",
                fe.get("enter_s"),
                re_.get("connect_and_enter_s"),
                "lower is better",
            )
        )
    return rows


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Run {results['started']} · scale {results['scale']} · commit {m['commit']} · "
        f"{m['cpu']} ({m['cores']} cores, servers pinned to core 0 and the load generator to "
        f"core 1: {m['pinned']}) · Python {m['python']} · Node {m['node']} · reference: "
        f"{results['reference']} · Chinwag's Socket.IO server: "
        f"{m.get('socket_server', 'python-socketio')} · {results.get('duration_s', 0):.0f} s",
        "",
        "| figure | Chinwag | reference | ratio | |",
        "|---|---|---|---|---|",
    ]
    for figure, ours, theirs, reading in summary_rows(results):
        shown = ours if isinstance(ours, str) else fmt(ours)
        lines.append(f"| {figure} | {shown} | {fmt(theirs)} | {ratio(ours, theirs)} | {reading} |")
    lines += ["", *steps_table(results, "a", "(a) stepped rates")]
    lines += ["", *steps_table(results, "f", "(b) one room, one sender")]
    x = results["scenarios"].get("x", {}).get("targets", {})
    if x:
        lines += [
            "",
            "(x) cross-check at 5 msg/s: messages received per client, this generator vs the "
            "official python-socketio client",
            "",
            "| server | sent | generator: clients, delivered, duplicates "
            "| official: clients, delivered, duplicates | agree |",
            "|---|---|---|---|---|",
        ]
        for label, o in x.items():
            if "error" in o:
                lines.append(f"| {label} | error: {o['error']} | | | |")
                continue
            lines.append(
                f"| {label} | {o['sent']} | {o['generator_clients']}, "
                f"{o['generator_delivered']}, {o['generator_duplicates']} | "
                f"{o['official_clients']}, {o['official_delivered']}, "
                f"{o['official_duplicates']} | {o['agree']} |"
            )
    errors = [f"- [{key}] {label}: {error}" for key, label, error in failures(results)]
    if errors:
        lines += ["", "Failed:", *errors]
    return "\n".join(lines)


def failures(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(scenario, target, error) for every target a scenario could not measure."""
    return [
        (key, label, outcome["error"])
        for key, entry in results["scenarios"].items()
        for label, outcome in entry["targets"].items()
        if "error" in outcome
    ]


def steps_table(results: dict[str, Any], key: str, title: str) -> list[str]:
    entry = results["scenarios"].get(key, {}).get("targets", {})
    if not entry:
        return []
    lines = [
        title,
        "",
        "| server | msg/s per sender | senders | delivered / expected | dup | p50 ms | p99 ms "
        "| ack p99 ms | deliveries/s | server µs/delivery | load CPU s / wall s | passed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, o in entry.items():
        for s in o.get("steps", []):
            lines.append(
                f"| {label} | {fmt(s['rate_per_sender'])} | {s['senders']} | "
                f"{s['delivered']:,} / {s['expected']:,} | {s['duplicates']} | "
                f"{fmt(s['p50_ms'])} | {fmt(s['p99_ms'])} | {fmt(s['ack_p99_ms'])} | "
                f"{fmt(s['deliveries_per_s'])} | {fmt(s['server_us_per_delivery'])} | "
                f"{fmt(s['load_cpu_s'])} / {fmt(s['wall_s'])} | {'yes' if s['passed'] else 'no'} |"
            )
    return lines


def plot(results: dict[str, Any], path: Path) -> None:
    """p50 and p99 delivery latency against offered deliveries/s: (a) and (b), each server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, key, title in (
        (axes[0], "a", "(a) rooms × clients, 1 sender per room"),
        (axes[1], "f", "(b) one big room, 1 sender"),
    ):
        for label, o in results["scenarios"].get(key, {}).get("targets", {}).items():
            steps = [s for s in o.get("steps", []) if s.get("p99_ms") is not None]
            if not steps:
                continue
            load = [
                s["rate_per_sender"] * s["senders"] * (s["expected"] / max(1, s["sent"]))
                for s in steps
            ]
            color = "tab:orange" if label == REF else "tab:blue"
            ax.plot(load, [s["p99_ms"] for s in steps], "o-", color=color, label=f"{label} p99")
            ax.plot(
                load,
                [s["p50_ms"] for s in steps],
                "s--",
                color=color,
                alpha=0.6,
                label=f"{label} p50",
            )
        ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered deliveries/s (messages/s × recipients)")
        ax.set_ylabel("delivery latency, ms")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Chinwag vs Node socket.io: latency against load ({results['started'][:10]}, "
        f"scale {results['scale']})"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
