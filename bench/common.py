"""Helpers shared by the benchmarks: the throw-away benchmark database, the machine
context, timing across writer processes and table printing.

Nothing here imports Django at module level, so benchmark modules can be imported (and
their command-line options declared) before Django is set up.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import platform
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "inventory_bench"


# --- Django and the benchmark database ---------------------------------------------------


def configure_environment() -> None:
    """Point Django at the project settings. DEBUG defaults to true only so that the
    settings load without a SECRET_KEY; the benchmark turns settings.DEBUG off again
    before measuring (see bench_database)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")


def _psycopg_params(db: dict, dbname: str) -> dict:
    params = {"dbname": dbname, "user": db.get("USER") or None}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    if db.get("HOST"):
        params["host"] = db["HOST"]
    if db.get("PORT"):
        params["port"] = str(db["PORT"])
    timeout = (db.get("OPTIONS") or {}).get("connect_timeout")
    if timeout:
        params["connect_timeout"] = timeout
    return {key: value for key, value in params.items() if value is not None}


def psycopg_params() -> dict:
    """Connection parameters of Django's default database (the benchmark database once
    bench_database() is active), for code that talks to PostgreSQL without Django."""
    from django.conf import settings

    from config.embedded_db import resolve

    db = resolve(settings.DATABASES["default"])
    return _psycopg_params(db, db["NAME"])


def _admin_connection(db: dict):
    """An autocommit connection to the server's maintenance database (``postgres``),
    falling back to the configured database as Django's test runner does."""
    import psycopg

    try:
        return psycopg.connect(**_psycopg_params(db, "postgres"), autocommit=True)
    except psycopg.OperationalError:
        return psycopg.connect(**_psycopg_params(db, db["NAME"]), autocommit=True)


def _drop_database(admin, name: str) -> None:
    # WITH (FORCE) (PostgreSQL 13+) ends any session left behind by an interrupted run.
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def bench_database(*, keep: bool = False) -> Iterator[str]:
    """Create ``inventory_bench`` fresh on the server of the settings' default database
    (the embedded one when DATABASE_URL is unset), point Django at it, set Django up,
    migrate, and drop the database at the end (unless ``keep``)."""
    import django
    from django.conf import settings

    from config.embedded_db import resolve

    configure_environment()
    db = resolve(settings.DATABASES["default"])  # starts the embedded server if needed
    if db["NAME"] == BENCH_DB:
        raise SystemExit(f"The configured database is already {BENCH_DB!r}; refusing to drop it.")
    admin = _admin_connection(db)
    try:
        _drop_database(admin, BENCH_DB)
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
        try:
            db["NAME"] = BENCH_DB
            # The debug cursor times and stores every query: production runs without it.
            settings.DEBUG = False
            django.setup()

            from django.core.management import call_command

            call_command("migrate", verbosity=0, interactive=False)
            yield BENCH_DB
        finally:
            from django.db import connections

            connections.close_all()
            if not keep:
                _drop_database(admin, BENCH_DB)
    finally:
        admin.close()


@contextmanager
def second_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """Create an empty database ``name`` on the benchmark database's server (inside
    bench_database) and yield its DATABASE_URL, for another process to migrate and use;
    drop it at the end (unless ``keep``)."""
    from django.conf import settings

    from config.database_url import database_url
    from config.embedded_db import resolve

    db = resolve(settings.DATABASES["default"])
    if name == db["NAME"]:
        raise SystemExit(f"{name!r} is the benchmark database itself.")
    admin = _admin_connection(db)
    try:
        _drop_database(admin, name)
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield database_url({**db, "NAME": name})
        finally:
            if not keep:
                _drop_database(admin, name)
    finally:
        admin.close()


# --- Machine context ----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_context() -> list[tuple[str, str]]:
    """(label, value) pairs describing where the figures were taken."""
    import django
    import psycopg
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('fsync'),"
            " current_setting('synchronous_commit'), current_setting('shared_buffers'),"
            " current_setting('max_connections')"
        )
        version, fsync, sync_commit, shared_buffers, max_connections = cursor.fetchone()
    db = settings.DATABASES["default"]
    host = db.get("HOST") or "localhost"
    where = (
        "embedded server (unix socket)"
        if not os.environ.get("DATABASE_URL")
        else f"DATABASE_URL server {host}:{db.get('PORT') or 5432}"
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return [
        ("CPUs", f"{os.cpu_count()} logical ({usable} usable), {_cpu_model()}"),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("Django / psycopg", f"{django.get_version()} / {psycopg.__version__}"),
        ("PostgreSQL", f"{version}, {where}"),
        (
            "Server settings",
            f"fsync={fsync}, synchronous_commit={sync_commit},"
            f" shared_buffers={shared_buffers}, max_connections={max_connections}",
        ),
        ("Database", f"{db['NAME']} (created for this run, dropped at the end)"),
        ("OS", f"{platform.system()} {platform.release()}"),
    ]


# --- Processes ----------------------------------------------------------------------------

# A worker is called in its own process as worker(index, start, *args). It connects and
# warms up, then calls start(), which waits until every worker is ready and returns the
# monotonic deadline; it works until the deadline and returns a picklable result.
Worker = Callable[..., object]


def _worker_main(worker, index, barrier, duration, results, args) -> None:
    def start() -> float:
        barrier.wait(timeout=300)
        return time.monotonic() + duration

    try:
        result = worker(index, start, *args)
    except BaseException:
        barrier.abort()
        results.put((index, None, traceback.format_exc()))
    else:
        results.put((index, result, None))


def run_workers(worker: Worker, count: int, duration: float, *args) -> list:
    """Run ``count`` workers, each in its own OS process (forked, so each opens its own
    database connection; the parent's connections are closed first), all starting at
    the same moment and working for ``duration`` seconds. Returns their results in
    index order."""
    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_worker_main, args=(worker, index, barrier, duration, results, args))
        for index in range(count)
    ]
    for process in processes:
        process.start()
    # A worker failing while warming up breaks the barrier: its traceback is in the queue.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=300)
    collected = {}
    errors = []
    for _ in processes:
        index, result, error = results.get(timeout=duration + 300)
        if error:
            errors.append(f"worker {index}:\n{error}")
        collected[index] = result
    for process in processes:
        process.join()
    if errors:
        raise RuntimeError("benchmark worker failed\n" + "\n".join(errors))
    return [collected[index] for index in range(count)]


# --- Figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def fmt_float(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: int = 2) -> None:
    """Print an aligned table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return " " * indent + "  ".join(parts).rstrip()

    print(line(headers))
    print(" " * indent + "  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def print_pairs(pairs: Sequence[tuple[str, str]], *, indent: int = 2) -> None:
    """Print "label: value" lines with the values aligned."""
    width = max(len(label) for label, _ in pairs) + 1
    for label, value in pairs:
        print(" " * indent + f"{label}:".ljust(width) + " " + value)


def print_heading(title: str) -> None:
    print()
    print(title)
    print("=" * len(title))


def print_notes(notes: Sequence[str], *, width: int = 92) -> None:
    """Print notes as wrapped bullet points."""
    import textwrap

    for note in notes:
        print(textwrap.fill(note, width=width, initial_indent="  - ", subsequent_indent="    "))
