"""Ledger benchmark: posting throughput through the posting service beside the raw SQL
of the same statement, and balance / as-of read latency with a small and a large
ledger.

Phases, in this order (each needs the ledger the previous one left):
1. 1,000 products (catalog.services.product_create) and a user posting as the actor;
2. 10 movements in the ledger: current-balance and as-of read latency;
3. 999,990 more (1,000,000 in all), generated in one INSERT ... SELECT: the same reads;
4. postings through ledger.services (stock_restock / stock_adjust, 3 : 1) and the same
   statement sent with psycopg directly, by 1 and by 16 writer processes, for one
   hot product and for 1,000 products.
"""

from __future__ import annotations

import inspect
import random
import time
from datetime import timedelta
from decimal import Decimal

from bench.common import (
    fmt_float,
    fmt_int,
    fmt_ratio,
    median,
    percentile,
    print_heading,
    print_notes,
    print_table,
    psycopg_params,
    run_workers,
)

NAME = "ledger"

PRODUCT_COUNT = 1_000
SMALL_LEDGER = 10
LARGE_LEDGER = 1_000_000
WRITER_COUNTS = (1, 16)
HISTORY = timedelta(days=30)  # the generated movements span the 30 days before the run
WARMUP_POSTINGS = 10
SEGMENT = 0.5  # seconds per measuring round (see _measure_postings)
WARMUP_READS = 200
ADJUSTMENT_REASON = "damaged"
STOCK_FLOOR = 1_000  # every product holds at least this much before the posting runs


def add_arguments(parser) -> None:
    parser.add_argument(
        "--skip-million",
        action="store_true",
        help="skip the 1,000,000-movement ledger (reads are then measured with 10 only)",
    )


def run(args) -> None:
    duration = 1.0 if args.quick else 3.0
    read_count = 500 if args.quick else 2_000

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from catalog.models import Product
    from catalog.services import product_create

    print_heading("Ledger")
    started = time.monotonic()
    with transaction.atomic():  # one commit for the whole catalogue
        actor = get_user_model().objects.create_user(username="bench-writer")
        product_ids = [
            product_create(
                sku=f"BENCH-{number:04d}", name=f"Bench product {number}", price=Decimal("9.99")
            ).pk
            for number in range(PRODUCT_COUNT)
        ]
    products = Product.objects.in_bulk(product_ids)
    print(f"  Set-up: {PRODUCT_COUNT:,} products in {time.monotonic() - started:.1f} s.")

    history_start = timezone.now() - HISTORY
    step = HISTORY / LARGE_LEDGER
    reader = _Readers()
    rng = random.Random(20240601)

    _generate_movements(product_ids, 0, SMALL_LEDGER, history_start, step)
    reads = {
        SMALL_LEDGER: reader.measure(
            products, product_ids, SMALL_LEDGER, history_start, step, read_count, rng
        )
    }
    if not args.skip_million:
        started = time.monotonic()
        _generate_movements(product_ids, SMALL_LEDGER, LARGE_LEDGER, history_start, step)
        print(
            f"  Generated {LARGE_LEDGER - SMALL_LEDGER:,} movements (one INSERT ... SELECT,"
            f" balances, VACUUM ANALYZE) in {time.monotonic() - started:.1f} s."
        )
        reads[LARGE_LEDGER] = reader.measure(
            products, product_ids, LARGE_LEDGER, history_start, step, read_count, rng
        )
        history = _history_pages(read_count // 4)

    ledger_size = _movement_count()
    _ensure_stock(product_ids, actor.pk)
    statement = _capture_write_statement(product_ids[0], actor.pk)
    cells = 2 * len(WRITER_COUNTS)
    print(f"  Measuring postings: {cells} cells x 2 modes x {duration:g} s ...", flush=True)
    postings = _measure_postings(product_ids, actor.pk, statement, duration)

    _print_postings(postings, duration, ledger_size)
    _print_reads(reads, reader, read_count)
    if not args.skip_million:
        _print_history(history, read_count // 4)


# --- Generated history ---------------------------------------------------------------------

# Movement number g (0-based over the whole ledger) goes to product ids[g mod n] as that
# product's event seq = g div n + 1, at history_start + g * step, so recorded_at increases
# within every product (and overall) and seq is gapless. Quantities follow seq: three
# restocks of +3 then one adjustment of -2, so the running sum (balance_after) has the
# closed form 7 * (seq div 4) + 3 * (seq mod 4) and never goes negative.
# The hash is a placeholder: the integrity chain is not what is measured here (and
# verify_ledger would rightly reject these rows). The balance rows are set to match after.
_GENERATE = """
INSERT INTO ledger_movement (product_id, location_id, kind, quantity, reason, seq,
                             balance_after, reserved_after, incoming_after, recorded_at,
                             actor_id, reference, note, order_line_id, reverses_id,
                             hash_version, hash)
SELECT ids[mod(g, n) + 1], c.location_id,
       CASE WHEN mod(s, 4) = 0 THEN 'adjustment' ELSE 'restock' END,
       CASE WHEN mod(s, 4) = 0 THEN -2 ELSE 3 END,
       CASE WHEN mod(s, 4) = 0 THEN 'damaged' ELSE '' END,
       s,
       7 * (s / 4) + 3 * mod(s, 4), 0, 0,
       %(start)s::timestamptz + (g * %(step_us)s) * interval '1 microsecond',
       NULL, '', '', NULL, NULL, 2, repeat('0', 64)
  FROM (SELECT %(ids)s::bigint[] AS ids, %(n)s::bigint AS n,
               (SELECT id FROM ledger_location WHERE is_default) AS location_id) AS c,
       LATERAL (SELECT g, g / c.n + 1 AS s
                  FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g) AS x
 ORDER BY g
"""

_MATCH_BALANCES = """
UPDATE ledger_stockbalance AS b
   SET on_hand = a.on_hand, version = a.version, last_hash = repeat('0', 64),
       updated_at = a.last_at
  FROM (SELECT product_id, location_id, sum(quantity) AS on_hand, count(*) AS version,
               max(recorded_at) AS last_at
          FROM ledger_movement GROUP BY product_id, location_id) AS a
 WHERE b.product_id = a.product_id AND b.location_id = a.location_id
"""

_MISMATCHES = """
SELECT count(*)
  FROM ledger_stockbalance AS b
  JOIN ledger_movement AS m ON m.product_id = b.product_id
       AND m.location_id = b.location_id AND m.seq = b.version
 WHERE m.balance_after <> b.on_hand
"""


def _movement_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_movement")
        return cursor.fetchone()[0]


def _generate_movements(product_ids, first, end, history_start, step) -> None:
    """Make the ledger hold movements 0 .. end-1 (it holds 0 .. first-1 already)."""
    from django.db import connection

    assert _movement_count() == first, "the generated history must come before any posting"
    with connection.cursor() as cursor:
        # A million rows take longer than the app's statement limit on a busy machine.
        cursor.execute("SET statement_timeout = 0")
        cursor.execute(
            _GENERATE,
            {
                "ids": product_ids,
                "n": len(product_ids),
                "first": first,
                "last": end - 1,
                "start": history_start,
                "step_us": step // timedelta(microseconds=1),
            },
        )
        cursor.execute(_MATCH_BALANCES)
        cursor.execute(_MISMATCHES)
        assert cursor.fetchone()[0] == 0, "generated balance_after does not match the balances"
        # Each generated month in its own partition, as a ledger that grew month by month
        # has them (the months before the migration's landed in the default partition).
        from ledger.partitions import partitions_ensure

        partitions_ensure(ahead=3)
        # Outside a transaction (Django autocommits): fresh statistics and visibility map,
        # as autovacuum would give a ledger that grew over time.
        cursor.execute("VACUUM (ANALYZE) ledger_movement, ledger_stockbalance, catalog_product")
        cursor.execute("RESET statement_timeout")
    _checkpoint()
    assert _movement_count() == end


def _checkpoint() -> None:
    """Flush the dirty pages the bulk insert left, so that the checkpointer's writes do
    not land in the middle of the next measurements. Needs superuser or pg_checkpoint
    (the embedded server's user is superuser); skipped without it."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


# --- Reads ---------------------------------------------------------------------------------


class _Readers:
    """Current-balance and as-of reads: through ledger.selectors (balance_current,
    balance_as_of) when they exist, else the ORM queries the selectors would run."""

    def __init__(self) -> None:
        self.current, self.current_label = self._selector("balance_current", with_time=False)
        self.as_of, self.as_of_label = self._selector("balance_as_of", with_time=True)
        if self.current is None:
            self.current, self.current_label = (
                self._orm_current,
                "ORM: StockBalance.objects.get(product_id=p)",
            )
        if self.as_of is None:
            self.as_of, self.as_of_label = (
                self._orm_as_of,
                "ORM: Movement.objects.filter(product_id=p, recorded_at__lte=t)"
                ".order_by('-recorded_at', '-seq').values_list('balance_after', 'seq').first()",
            )
        self.plans: dict[int, str] = {}

    @staticmethod
    def _orm_current(product, when=None):
        from ledger.models import StockBalance

        return StockBalance.objects.get(product_id=product.pk)

    @staticmethod
    def _as_of_queryset(product, when):
        from ledger.models import Movement

        return (
            Movement.objects.filter(product_id=product.pk, recorded_at__lte=when)
            .order_by("-recorded_at", "-seq")
            .values_list("balance_after", "seq")
        )

    def _orm_as_of(self, product, when):
        return self._as_of_queryset(product, when).first()

    @staticmethod
    def _selector(name: str, *, with_time: bool):
        """Bind ledger.selectors.<name> by its parameter names: the one naming the product
        (an id if it ends in 'id', else the instance) and, for as-of, the other required
        one (the instant). Returns (None, None) when there is no such selector."""
        try:
            from ledger import selectors
        except ImportError:
            return None, None
        function = getattr(selectors, name, None)
        if function is None:
            return None, None
        parameters = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        product_param = next((p for p in parameters if "product" in p.name), None)
        time_param = next(
            (p for p in parameters if p is not product_param and p.default is p.empty), None
        )
        if product_param is None or (with_time and time_param is None):
            return None, None
        by_id = product_param.name.endswith("id")

        def call(product, when=None):
            kwargs = {product_param.name: product.pk if by_id else product}
            if with_time:
                kwargs[time_param.name] = when
            return function(**kwargs)

        return call, f"ledger.selectors.{name}"

    def measure(self, products, product_ids, movements, history_start, step, count, rng):
        """Median and p99 (microseconds) of `count` reads of each kind, after a warm-up:
        current balance of a random product; balance of a random product with movements
        at a random instant of its history (after its first movement)."""
        history_end = history_start + step * (movements - 1)
        current_args = [(products[rng.choice(product_ids)],) for _ in range(count)]
        as_of_args = []
        for _ in range(count):
            # Product k's first movement is movement number k (see _GENERATE): pick an
            # instant between it and the newest movement of the ledger.
            k = rng.randrange(min(movements, len(product_ids)))
            first = history_start + step * k
            as_of_args.append(
                (products[product_ids[k]], first + (history_end - first) * rng.random())
            )
        self.plans[movements] = _as_of_plan(*as_of_args[0])
        return {
            "current": _time_calls(self.current, current_args),
            "as_of": _time_calls(self.as_of, as_of_args),
        }


HISTORY_DEPTH = 100_000


def _history_pages(count: int) -> dict[int, tuple[float, float]]:
    """Median and p99 (microseconds) of GET /api/v1/movements/ (50 rows, newest first)
    as an auditor, in this process through Django's whole stack: page 1, and the page
    whose cursor is HISTORY_DEPTH movements deep (the cursor a client reaches by following
    `next` 2,000 times). The two alternate, so that whatever else runs hits both."""
    import base64
    import secrets

    from django.db import connection
    from rest_framework.test import APIClient

    from accounts.roles import Role
    from accounts.services import token_create, user_create

    auditor = user_create(
        username="bench-auditor", password=secrets.token_urlsafe(24), role=Role.AUDITOR
    )
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=auditor)[0]}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_movement ORDER BY id DESC OFFSET %s LIMIT 1", [HISTORY_DEPTH]
        )
        position = cursor.fetchone()[0]
    # DRF's cursor: base64 of the query string of its position (the last id seen).
    deep = base64.b64encode(f"p={position}".encode()).decode()
    urls = {0: "/api/v1/movements/", HISTORY_DEPTH: f"/api/v1/movements/?cursor={deep}"}
    for url in urls.values():
        response = client.get(url)
        assert response.status_code == 200 and len(response.json()["results"]) == 50, url
    samples: dict[int, list[float]] = {depth: [] for depth in urls}
    for round_number in range(count + WARMUP_READS // 4):
        for depth, url in urls.items():
            began = time.perf_counter_ns()
            client.get(url)
            if round_number >= WARMUP_READS // 4:
                samples[depth].append((time.perf_counter_ns() - began) / 1_000)
    return {depth: (median(times), percentile(times, 0.99)) for depth, times in samples.items()}


def _print_history(history, count) -> None:
    first, deep = history[0], history[HISTORY_DEPTH]
    print()
    print(f"  History pages with {LARGE_LEDGER:,} movements, microseconds ({count:,} each)")
    print()
    print_table(
        ["page", "median", "p99", "x page 1 (median)"],
        [
            ["page 1 (newest 50)", fmt_float(first[0]), fmt_float(first[1]), "1.00x"],
            [
                f"{HISTORY_DEPTH:,} movements deep",
                fmt_float(deep[0]),
                fmt_float(deep[1]),
                fmt_ratio(deep[0] / first[0]),
            ],
        ],
    )
    print()
    print_notes(
        [
            "GET /api/v1/movements/ as an auditor through Django's whole stack in this"
            " process (token check, the keyset query, rendering 50 rows); the deep page"
            " is asked for with the cursor that following `next` would reach. Keyset"
            " pagination seeks the id index, so the ratio stays near 1.00x.",
        ]
    )


def _time_calls(function, arguments) -> tuple[float, float]:
    for args in arguments[:WARMUP_READS]:
        function(*args)
    samples = []
    clock = time.perf_counter_ns
    for args in arguments:
        began = clock()
        function(*args)
        samples.append((clock() - began) / 1_000)
    return median(samples), percentile(samples, 0.99)


def _as_of_plan(product, when) -> str:
    """The plan of ledger.selectors' as-of statement (all the product's locations), or of
    the ORM query the selector would run when there is no such statement."""
    from django.db import connection

    from ledger import selectors

    statement = getattr(selectors, "_AS_OF", None)
    if statement is None:
        return _plan(_Readers._as_of_queryset(product, when)[:1].explain())
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement.format(location=""), [when, product.pk])
        return _plan("\n".join(row[0] for row in cursor.fetchall()))


def _plan(explained: str) -> str:
    """The plan's node names, outermost first, e.g. 'Limit > Index Scan Backward ...'."""
    nodes = []
    for line in explained.splitlines():
        if "(cost=" in line:
            nodes.append(line.split("(cost=")[0].strip().removeprefix("->").strip())
    return " > ".join(nodes)


# --- Postings ------------------------------------------------------------------------------


def _ensure_stock(product_ids, actor_id) -> None:
    """Restock (through the service) every product holding less than STOCK_FLOOR, so the
    adjustments in the mix are never refused for short stock and no posting crosses a
    reorder level (the products' reorder level is 0)."""
    from django.db import transaction

    from ledger.models import StockBalance
    from ledger.services import stock_restock

    short = StockBalance.objects.filter(
        product_id__in=product_ids, on_hand__lt=STOCK_FLOOR
    ).values_list("product_id", flat=True)
    with transaction.atomic():
        for product_id in short:
            stock_restock(product_id=product_id, quantity=STOCK_FLOOR, actor_id=actor_id)


def _capture_write_statement(product_id, actor_id) -> str:
    """Post one restock and one adjustment through the services, recording the SQL they
    send; check it is the one statement the raw writers replay (ledger.posting's
    single-posting statement: the conditional UPDATE, the movement INSERT, its event)
    and return it."""
    from django.db import connection

    from ledger.posting import _ONE_PARAMS, _one_sql
    from ledger.services import stock_adjust, stock_restock

    captured = []

    def record(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        stock_restock(product_id=product_id, quantity=1, actor_id=actor_id)
        stock_adjust(
            product_id=product_id, quantity=-1, reason=ADJUSTMENT_REASON, actor_id=actor_id
        )
    statements = [sql for sql, _ in captured]
    if (
        len(captured) != 2
        or statements != [_one_sql(0)] * 2
        or any(len(params) != len(_ONE_PARAMS) for _, params in captured)
    ):
        raise RuntimeError(
            "The posting service no longer sends the one statement this benchmark replays"
            " (WITH u AS (UPDATE ...), m AS (INSERT ...) ...); update"
            " bench/ledger_bench.py. Captured:\n" + "\n---\n".join(statements)
        )
    return statements[0]


def _next_posting(rng, index, product_ids) -> tuple[int, int, bool]:
    """The mix: three restocks (+1..+5) then one adjustment (-1..-3), each to a random
    product of product_ids. Returns (product_id, quantity, is_adjustment)."""
    product_id = product_ids[0] if len(product_ids) == 1 else rng.choice(product_ids)
    if index % 4 == 3:
        return product_id, -rng.randint(1, 3), True
    return product_id, rng.randint(1, 5), False


def _timed_postings(post, start) -> dict:
    """Wait for the common start, then call post(number) until the deadline; count
    postings done and refused, wall and CPU time (both writer kinds measure alike)."""
    done = refused = 0
    deadline = start()
    began = time.monotonic()
    cpu_began = time.process_time()
    number = WARMUP_POSTINGS
    while time.monotonic() < deadline:
        if post(number):
            done += 1
        else:
            refused += 1
        number += 1
    return {
        "done": done,
        "refused": refused,
        "elapsed": time.monotonic() - began,
        "cpu": time.process_time() - cpu_began,
    }


def _service_writer(index, start, product_ids, actor_id, seed):
    """A writer process posting through ledger.services (its own Django connection)."""
    from django.db import connection

    from ledger.exceptions import InsufficientStock
    from ledger.services import stock_adjust, stock_restock

    rng = random.Random(seed * 1_000 + index)

    def post(number: int) -> bool:
        product_id, quantity, adjustment = _next_posting(rng, number, product_ids)
        try:
            if adjustment:
                stock_adjust(
                    product_id=product_id,
                    quantity=quantity,
                    reason=ADJUSTMENT_REASON,
                    actor_id=actor_id,
                )
            else:
                stock_restock(product_id=product_id, quantity=quantity, actor_id=actor_id)
        except InsufficientStock:
            return False
        return True

    for number in range(WARMUP_POSTINGS):
        post(number)
    result = _timed_postings(post, start)
    connection.close()
    return result


def _raw_writer(index, start, product_ids, actor_id, seed, connect_params, statement):
    """A writer process sending, with psycopg and no Django, the statement the service
    sends per posting, with the same parameters, as the service sends it: prepared once
    (parameters bound on the server) and run as its own transaction (autocommit: no
    BEGIN, no COMMIT; core.db.prepared_cursor and sole_statement). So the difference
    from the service is the service layer itself."""
    import psycopg

    rng = random.Random(seed * 1_000 + index)
    connection = psycopg.connect(**connect_params, autocommit=True, prepare_threshold=0)
    cursor = connection.cursor()
    clock = time.perf_counter
    spent = [0.0]  # the posting's statement, its commit included

    def post(number: int) -> bool:
        product_id, quantity, adjustment = _next_posting(rng, number, product_ids)
        t0 = clock()
        # ledger.posting._ONE_PARAMS: product, location (None: the default), kind,
        # quantity, the on hand, reserved and incoming deltas, the expected version
        # (none), the actor, reason, reference, note and the six documents (none).
        kind, reason = ("adjustment", ADJUSTMENT_REASON) if adjustment else ("restock", "")
        params = [product_id, None, kind, quantity, quantity, 0, 0, None, actor_id, reason]
        cursor.execute(statement, params + ["", ""] + [None] * 6, prepare=True)
        row = cursor.fetchone()
        spent[0] += clock() - t0
        return row is not None

    for number in range(WARMUP_POSTINGS):
        post(number)
    spent[:] = [0.0]
    result = _timed_postings(post, start)
    connection.close()
    return {**result, "spent": spent}


def _summarise(rounds) -> dict:
    """Combine the rounds of one mode: each round is the list of its workers' results."""
    results = [result for round_results in rounds for result in round_results]
    done = sum(r["done"] for r in results)
    wall = sum(max(r["elapsed"] for r in round_results) for round_results in rounds)
    summary = {
        "done": done,
        "refused": sum(r["refused"] for r in results),
        "rate": done / wall,
        # mean time one writer spends per posting (closed loop)
        "latency_ms": 1_000 * sum(r["elapsed"] for r in results) / max(done, 1),
        # the writer process's own CPU (user + system) per posting: the client-side cost
        "cpu_us": 1_000_000 * sum(r["cpu"] for r in results) / max(done, 1),
    }
    if "spent" in results[0]:
        summary["spent_us"] = [
            1_000_000 * sum(r["spent"][part] for r in results) / max(done, 1)
            for part in range(len(results[0]["spent"]))
        ]
    return summary


def _measure_postings(product_ids, actor_id, statement, duration) -> list[dict]:
    """Each cell runs service and raw writers alternately in blocks of four rounds,
    service-raw-raw-service, each round SEGMENT seconds (fresh processes each round), so
    that drift and outside load (autovacuum, checkpoints, other programs on the machine)
    weigh on both alike. Each mode gets `duration` seconds in all."""
    connect_params = psycopg_params()
    blocks = max(1, round(duration / (2 * SEGMENT)))
    segment = duration / (2 * blocks)
    rows = []
    seed = 0
    for label, targets in (("1 (hot)", product_ids[:1]), (f"{len(product_ids):,}", product_ids)):
        for writers in WRITER_COUNTS:
            rounds = {"service": [], "raw": []}
            block_ratios = []
            for _ in range(blocks):
                block = {"service": [], "raw": []}
                for mode in ("service", "raw", "raw", "service"):
                    seed += 1
                    if mode == "service":
                        worker, extra = _service_writer, ()
                    else:
                        worker, extra = _raw_writer, (connect_params, statement)
                    block[mode].append(
                        run_workers(worker, writers, segment, targets, actor_id, seed, *extra)
                    )
                block_ratios.append(
                    _summarise(block["service"])["rate"] / _summarise(block["raw"])["rate"]
                )
                for mode in block:
                    rounds[mode].extend(block[mode])
            rows.append(
                {
                    "products": label,
                    "writers": writers,
                    "service": _summarise(rounds["service"]),
                    "raw": _summarise(rounds["raw"]),
                    "ratio_range": (min(block_ratios), max(block_ratios)),
                }
            )
    return rows


# --- Output --------------------------------------------------------------------------------


def _print_postings(rows, duration, ledger_size) -> None:
    print()
    print(
        f"  Postings per second (mix 3 restocks : 1 adjustment; {duration:g} s per mode per"
        f" cell,\n  in rounds of {SEGMENT:g} s alternating service-raw-raw-service)"
    )
    print()
    print_table(
        [
            "products",
            "writers",
            "service/s",
            "raw SQL/s",
            "service/raw",
            "(per block)",
            "service ms/posting",
            "raw ms/posting",
        ],
        [
            [
                row["products"],
                str(row["writers"]),
                fmt_int(row["service"]["rate"]),
                fmt_int(row["raw"]["rate"]),
                fmt_ratio(row["service"]["rate"] / row["raw"]["rate"]),
                "{:.2f}-{:.2f}".format(*row["ratio_range"]),
                fmt_float(row["service"]["latency_ms"], 2),
                fmt_float(row["raw"]["latency_ms"], 2),
            ]
            for row in rows
        ],
    )
    print()
    print("  Where a raw posting's time goes (mean per posting, microseconds)")
    print()
    print_table(
        [
            "products",
            "writers",
            "posting+commit",
            "other",
            "service extra",
            "CPU: raw",
            "CPU: service",
        ],
        [
            [
                row["products"],
                str(row["writers"]),
                *[fmt_int(value) for value in row["raw"]["spent_us"]],
                fmt_int(1_000 * row["raw"]["latency_ms"] - sum(row["raw"]["spent_us"])),
                fmt_int(1_000 * (row["service"]["latency_ms"] - row["raw"]["latency_ms"])),
                fmt_int(row["raw"]["cpu_us"]),
                fmt_int(row["service"]["cpu_us"]),
            ]
            for row in rows
        ],
    )
    refused = sum(row[mode]["refused"] for row in rows for mode in ("service", "raw"))
    print()
    print_notes(
        [
            "service/s: postings committed per second by all writers together through"
            " ledger.services.stock_restock / stock_adjust (each one transaction around"
            " movements_post). raw SQL/s: the same writers sending the same statement"
            " with the same parameters with psycopg directly, prepared, one transaction"
            " per posting."
            " service/raw is the figure that matters: 1.00x means the service layer costs"
            " nothing on top of the SQL; 0.80x means it takes 20% of the throughput."
            " (per block): the lowest and highest ratio over the service-raw-raw-service"
            " blocks; a wide range means the machine was noisy (other processes, autovacuum,"
            " checkpoints) and the cell deserves a rerun before drawing conclusions.",
            "Each posting is 1 round trip: the one prepared statement, whose conditional"
            " UPDATE locks the balance row and whose INSERT writes the movement, its hash"
            " and its event, run as its own transaction, whose commit waits for the WAL"
            " flush (see synchronous_commit above); so a single writer's rate is bounded"
            " by flush latency, not CPU.",
            "1 (hot): every posting goes to the same product, so writers queue on its"
            " balance row lock, held from the UPDATE until the COMMIT has flushed; extra"
            " writers cannot add throughput there. 1,000: a random product per posting,"
            " so writers rarely collide and their commits share WAL flushes.",
            "Writers are separate processes (Python threads would share the GIL), each with"
            " its own connection. With 16 writers on a machine with few cores, the writers'"
            " Python and the 16 server backends compete for the same CPUs, so any CPU the"
            " service layer adds per posting shows up directly as lost throughput.",
            "ms/posting: mean time a writer spends per posting (writers x seconds /"
            " postings). The second table splits the raw writers' time: the wall time"
            " waiting for the posting's statement and its commit (under contention the"
            " UPDATE waits for the row lock) and 'other', the client's own work between"
            " them; 'service extra' is service minus raw ms/posting. CPU: the"
            " writer processes' own CPU time (user + system) per posting, raw and"
            " through the service; their difference is what the service layer (Django's"
            " transaction and cursor wrappers, the Movement instances) costs the client, and"
            " it is less sensitive to outside load than the rates.",
            f"The ledger held {ledger_size:,} movements when the posting runs started;"
            f" {refused:,} postings were refused for short stock (expected: 0).",
        ]
    )


def _print_reads(reads, reader, read_count) -> None:
    small = reads[SMALL_LEDGER]
    large = reads.get(LARGE_LEDGER)
    headers = ["read", "10: median", "10: p99"]
    if large:
        headers += ["1M: median", "1M: p99", "1M/10 median", "1M/10 p99"]
    rows = []
    for key, label in (("current", "current balance"), ("as_of", "balance as of T")):
        row = [label, fmt_float(small[key][0]), fmt_float(small[key][1])]
        if large:
            row += [
                fmt_float(large[key][0]),
                fmt_float(large[key][1]),
                fmt_ratio(large[key][0] / small[key][0]),
                fmt_ratio(large[key][1] / small[key][1]),
            ]
        rows.append(row)
    print()
    print(
        f"  Read latency, microseconds ({read_count:,} reads each, one client;"
        " columns: movements in the ledger)"
    )
    print()
    print_table(headers, rows)
    print()
    notes = [
        f"current balance: {reader.current_label}, a random product of {PRODUCT_COUNT:,}.",
        f"balance as of T: {reader.as_of_label}, a random product with movements at a"
        " random instant between its first movement and the ledger's newest one (so"
        " there always is a movement at or before T).",
        "Times are wall time per call in this process: Django building the query, the"
        " round trip and PostgreSQL's execution, and building the result. A 1M/10 ratio"
        " near 1.00x means the read is an index seek whose cost does not grow with the"
        " ledger; a ratio growing with the ledger would mean a scan.",
        "The 1,000,000 movements were generated by one INSERT ... SELECT over"
        " generate_series (1,000 per product, over the 30 days before the run, placeholder"
        " hashes since the hash chain is not measured) and VACUUM ANALYZEd.",
    ]
    if large is None:
        notes.append("The 1,000,000-movement ledger was skipped (--skip-million).")
    for movements, plan in reader.plans.items():
        notes.append(f"Plan of the as-of read with {movements:,} movements: {plan}.")
    print_notes(notes)
