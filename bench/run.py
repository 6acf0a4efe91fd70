"""Benchmark runner: ``make bench`` or ``.venv/bin/python bench/run.py [--quick]``.

Creates a fresh ``inventory_bench`` database on the server of the settings' default
database, migrates it, prints the machine context, runs each benchmark module in
BENCHMARKS and drops the database. Benchmarks print figures; they are not tests.

A benchmark module defines ``NAME``, ``run(args)`` and optionally
``add_arguments(parser)``; it must not import Django at module level (Django is set up
after the command line is parsed). Adding one to the runner is one line in BENCHMARKS.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402

BENCHMARKS = [
    "bench.ledger_bench",
    "bench.http_bench",
    "bench.receipts",
    "bench.events_bench",
]


def main(argv: list[str] | None = None) -> int:
    modules = [importlib.import_module(name) for name in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short runs (a smoke test; figures are noisier)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[module.NAME for module in modules],
        help="run only this benchmark (repeatable)",
    )
    parser.add_argument(
        "--keep-db", action="store_true", help=f"keep {common.BENCH_DB} afterwards for inspection"
    )
    for module in modules:
        if hasattr(module, "add_arguments"):
            module.add_arguments(parser.add_argument_group(module.NAME))
    args = parser.parse_args(argv)
    selected = [module for module in modules if not args.only or module.NAME in args.only]

    common.configure_environment()
    started = time.monotonic()
    with common.bench_database(keep=args.keep_db):
        common.print_heading("Machine")
        common.print_pairs(common.machine_context())
        for module in selected:
            module.run(args)
    print()
    print(f"Done in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
