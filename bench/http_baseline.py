"""HTTP figures of this checkout beside a baseline commit (``--baseline REF``), in one run.

The baseline is checked out in a temporary git worktree (removed at the end). It gets
its own database on the same PostgreSQL server, migrated by its own ``manage.py
migrate``, and the same data set, written through its own services
(bench/http_seed.py run inside each tree). Each tree is served by its own gunicorn with
its own config/gunicorn.py and the same number of workers; both use this checkout's
virtualenv, with the tree first on the path, and the file each imported
``ledger.posting`` from is checked. Then every scenario runs in several short rounds,
alternating between the two servers (the order flips each round), so that whatever
else the machine is doing at the time falls on both.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    ROOT,
    fmt_float,
    fmt_int,
    fmt_ratio,
    median,
    percentile,
    print_heading,
    print_notes,
    print_pairs,
    print_table,
    run_workers,
    second_database,
)
from bench.http_bench import Gunicorn, bench_database_url, client, server_environment
from bench.http_seed import CUSTOMER_COUNT, PRODUCT_COUNT

BASELINE_DB = "inventory_bench_baseline"
SEED_SCRIPT = Path(__file__).resolve().parent / "http_seed.py"

# (label, request kind, products: the hot one or all, tokens: customers or warehouse)
SCENARIOS = [
    ("order, 1 line, 1 hot product", "order", "hot", "customers"),
    (f"order, 1 line, {PRODUCT_COUNT:,} products", "order", "all", "customers"),
    (f"restock, {PRODUCT_COUNT:,} products", "restock", "all", "warehouse"),
    (f"receipt, 10 lines, {PRODUCT_COUNT:,} products", "receipt", "all", "warehouse"),
    ("GET /api/v1/products/ (50 a page)", "list", "all", "customers"),
    ("GET /healthz (no database)", "health", "all", "customers"),
]


@dataclass
class _Side:
    """One tree: the code, its database, its data set and its server."""

    name: str  # "baseline" or "this"
    tree: Path
    database_url: str
    commit: str = ""
    subject: str = ""
    data: dict = field(default_factory=dict)
    server: Gunicorn | None = None
    runs: dict[int, list[tuple[list, float]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name} {self.commit}"

    def targets(self, products: str) -> list[int]:
        return self.data["product_ids"][:1] if products == "hot" else self.data["product_ids"]

    def tokens(self, who: str) -> list[str]:
        if who == "warehouse":
            return [self.data["warehouse_token"]]
        return self.data["customer_tokens"]


def run_against_baseline(args) -> None:
    duration = 2.0 if args.quick else 5.0
    rounds = args.rounds or (2 if args.quick else 3)
    print_heading("HTTP, this checkout beside a baseline")
    commit = _git(ROOT, "rev-parse", "--verify", "--quiet", f"{args.baseline}^{{commit}}")
    if not commit:
        raise SystemExit(f"--baseline {args.baseline}: no such commit in this repository.")
    with (
        tempfile.TemporaryDirectory(prefix="bench-baseline-") as parent,
        _worktree(commit, Path(parent) / "tree") as tree,
        second_database(BASELINE_DB, keep=args.keep_db) as baseline_url,
    ):
        baseline = _Side("baseline", tree, baseline_url)
        this = _Side("this", ROOT, bench_database_url())
        sides = [baseline, this]
        for side in sides:
            side.commit, side.subject = _describe(side.tree)
        this.commit += "+" if _git(ROOT, "status", "--porcelain") else ""

        started = time.monotonic()
        _run_in(baseline, [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"])
        migrated = time.monotonic() - started
        for side in sides:
            output = _run_in(side, [sys.executable, "-c", SEED_SCRIPT.read_text()])
            side.data = json.loads(output.strip().splitlines()[-1])
            _check_imported(side, side.data["imported"], "the seeding")
        print_pairs(
            [
                ("Baseline", f"{baseline.commit} {baseline.subject}"),
                ("This checkout", f"{this.commit} {this.subject}"),
                ("Baseline tree", f"{tree} (git worktree, removed at the end)"),
                (
                    "Set-up",
                    f"baseline migrated in {migrated:.1f} s; {PRODUCT_COUNT:,} products with"
                    f" stock and {CUSTOMER_COUNT} customers in {baseline.data['seconds']:.1f} s"
                    f" (baseline) and {this.data['seconds']:.1f} s (this)",
                ),
            ]
        )
        try:
            for side in sides:
                side.server = Gunicorn(
                    args.http_workers,
                    tree=side.tree,
                    database_url=side.database_url,
                    tree_config=True,
                )
                imported = side.server.imported()
                if len(imported) != args.http_workers:
                    raise RuntimeError(f"{side.label}: {len(imported)} workers reported")
                for path in imported:
                    _check_imported(side, path, "a gunicorn worker")
            print("  Code served: ledger.posting as imported by the seeding and every worker:")
            for side in sides:
                print(f"    {side.label}: {', '.join(sorted(set(side.server.imported())))}")
            _measure(sides, args.connections, duration, rounds)
        finally:
            for side in sides:
                if side.server is not None:
                    side.server.stop()
    _print(baseline, this, args, duration, rounds)


# --- Trees -----------------------------------------------------------------------------------


def _git(cwd: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(cwd), *arguments], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _describe(tree: Path) -> tuple[str, str]:
    """The short commit checked out in ``tree`` (asked of that tree) and its subject."""
    subject = _git(tree, "log", "-1", "--format=%s")
    if len(subject) > 72:
        subject = subject[:71] + "…"
    return _git(tree, "rev-parse", "--short", "HEAD"), subject


@contextmanager
def _worktree(commit: str, path: Path) -> Iterator[Path]:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
            check=False,
            capture_output=True,
        )
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def _run_in(side: _Side, command: list[str]) -> str:
    """Run a Python command inside a tree: its directory first on the path (before this
    checkout's editable install), its settings, its database. Returns stdout."""
    env = server_environment(side.database_url) | {"PYTHONPATH": str(side.tree)}
    completed = subprocess.run(
        command, cwd=side.tree, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{side.label}: {command[:3]} failed\n{completed.stdout}\n{completed.stderr}"
        )
    return completed.stdout


def _check_imported(side: _Side, imported: str, by: str) -> None:
    if not imported or not Path(imported).resolve().is_relative_to(side.tree.resolve()):
        raise RuntimeError(
            f"{by} of {side.label} imported ledger.posting from {imported!r}, not from {side.tree}"
        )


# --- Measuring -------------------------------------------------------------------------------


def _measure(sides: list[_Side], connections: int, duration: float, rounds: int) -> None:
    """Every scenario on both servers, one after the other, round after round; the side
    that goes first alternates."""
    for number in range(rounds):
        order = sides if number % 2 == 0 else sides[::-1]
        for index, (_label, kind, products, who) in enumerate(SCENARIOS):
            for side in order:
                cpu_before = side.server.cpu_seconds()
                results = run_workers(
                    client,
                    connections,
                    duration,
                    side.server.port,
                    kind,
                    side.targets(products),
                    side.tokens(who),
                )
                cpu = side.server.cpu_seconds() - cpu_before
                side.runs.setdefault(index, []).append((results, cpu))


def _pool(runs: list[tuple[list, float]]) -> dict:
    """The rounds of one scenario on one side together: requests over the summed time,
    percentiles over every latency, CPU over every request (warm-up included)."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    measured = elapsed = cpu = 0.0
    total = 0
    round_rates = []
    for results, cpu_seconds in runs:
        count = sum(len(r["latencies"]) for r in results)
        seconds = max(r["elapsed"] for r in results)
        round_rates.append(count / seconds)
        measured += count
        elapsed += seconds
        cpu += cpu_seconds
        for result in results:
            statuses.update(result["statuses"])
            latencies.extend(result["latencies"])
    total = sum(statuses.values())
    return {
        "rate": measured / elapsed,
        "round_rates": round_rates,
        "cpu_ms": 1_000 * cpu / max(total, 1),
        "median_ms": 1_000 * median(latencies),
        "p99_ms": 1_000 * percentile(latencies, 0.99),
        "statuses": dict(sorted(statuses.items())),
    }


# --- Output ----------------------------------------------------------------------------------


def _print(baseline: _Side, this: _Side, args, duration: float, rounds: int) -> None:
    print()
    print(
        f"  Requests per second through gunicorn ({args.http_workers} sync workers each),"
        f" {args.connections} client connections, {rounds} rounds x {duration:g} s per"
        " scenario and side, alternating"
    )
    print()
    table = []
    for index, (label, *_rest) in enumerate(SCENARIOS):
        base, mine = _pool(baseline.runs[index]), _pool(this.runs[index])
        per_round = " ".join(
            f"{m / b:.2f}" for b, m in zip(base["round_rates"], mine["round_rates"], strict=True)
        )
        for side, summary in ((baseline, base), (this, mine)):
            is_this = side is this
            table.append(
                [
                    label if not is_this else "",
                    side.label,
                    fmt_int(summary["rate"]),
                    fmt_ratio(mine["rate"] / base["rate"]) if is_this else "",
                    per_round if is_this else "",
                    fmt_float(summary["median_ms"]),
                    fmt_float(summary["p99_ms"]),
                    fmt_float(summary["cpu_ms"], 2),
                    fmt_ratio(mine["cpu_ms"] / base["cpu_ms"]) if is_this else "",
                    " ".join(f"{code}:{count}" for code, count in summary["statuses"].items()),
                ]
            )
    print_table(
        [
            "scenario",
            "side",
            "req/s",
            "this/base",
            "per round",
            "p50 ms",
            "p99 ms",
            "server CPU ms/req",
            "this/base",
            "statuses",
        ],
        table,
    )
    print()
    print_notes(
        [
            "req/s: answered requests per second, all clients together, over all rounds; "
            "this/base: this checkout's figure divided by the baseline's, overall and per "
            "round (a round runs each scenario on both servers back to back). Noise on a "
            "shared machine moves the per-round ratios; the /healthz line, where both trees "
            "run nearly the same code, shows how far.",
            "p50/p99 ms: latency of each request as a client saw it, all rounds together. "
            "server CPU ms/req: user + system CPU of that server's gunicorn workers divided "
            "by the requests they answered (warm-up included); PostgreSQL's CPU is not in it.",
            "Both trees run on this checkout's virtualenv (the same Django and libraries) and "
            "the same PostgreSQL server, each on its own database migrated by its own "
            "migrations and holding the same data, written by its own services. "
            "The access log is off on both, as in the single-tree benchmark.",
        ]
    )
