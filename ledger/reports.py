"""The low-stock report: products at or below their reorder level, with how fast they
are being consumed, and renderers for it (an aligned text table, CSV, JSON)."""

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from core import csv
from ledger.models import MovementKind

WINDOW_DAYS = 30

# One statement. Products are filtered to low, active ones first (on hand summed over
# their locations' balance rows); then, for each of those only and per location it is
# kept at, index scans of its movements (movement_location_as_of_idx is on product,
# location, recorded_at): the newest restock and the units consumed in the window.
# Consumption is net of order cancellations (reversals that belong to an order line) so
# a cancelled order does not inflate the rate; adjustments (damage, loss, stocktakes) are
# not consumption. MATERIALIZED keeps the planner from inlining the CTE, which would
# repeat the window aggregate for every derived column.
_LOW_STOCK = """
WITH low AS MATERIALIZED (
    SELECT p.id, p.sku, p.name, t.on_hand, p.reorder_level,
           (SELECT max(r.last_at) FROM ledger_stockbalance AS b,
                   LATERAL (SELECT max(m.recorded_at) AS last_at FROM ledger_movement AS m
                             WHERE m.product_id = b.product_id AND m.location_id = b.location_id
                               AND m.kind = %(restock)s AND m.recorded_at <= %(now)s) AS r
             WHERE b.product_id = p.id) AS last_restock_at,
           GREATEST(0, COALESCE(
             (SELECT -sum(m.quantity) FROM ledger_stockbalance AS b
                JOIN ledger_movement AS m
                  ON m.product_id = b.product_id AND m.location_id = b.location_id
               WHERE b.product_id = p.id
                 AND m.recorded_at > %(since)s AND m.recorded_at <= %(now)s
                 AND (m.kind = %(consumption)s
                      OR (m.kind = %(reversal)s AND m.order_line_id IS NOT NULL))),
             0)) AS consumed
      FROM catalog_product AS p
      JOIN (SELECT product_id, sum(on_hand)::bigint AS on_hand
              FROM ledger_stockbalance GROUP BY product_id) AS t ON t.product_id = p.id
     WHERE p.is_active AND t.on_hand <= p.reorder_level
)
SELECT id, sku, name, on_hand, reorder_level, reorder_level - on_hand AS shortfall,
       last_restock_at,
       round(consumed::numeric / %(days)s, 2) AS consumed_per_day,
       CASE WHEN consumed > 0 THEN round(on_hand::numeric * %(days)s / consumed, 1) END
         AS days_of_cover
  FROM low
 ORDER BY days_of_cover ASC NULLS LAST, shortfall DESC, sku
"""


@dataclass(frozen=True, slots=True)
class LowStockRow:
    product_id: int
    sku: str
    name: str
    on_hand: int
    reorder_level: int
    shortfall: int  # units below the reorder level (0 when exactly at it)
    last_restock_at: datetime | None
    consumed_per_day: Decimal  # net units consumed per day over the window, 2 places
    days_of_cover: Decimal | None  # on-hand / consumed_per_day, 1 place; None: no use


def low_stock_report(
    *, now: datetime | None = None, window_days: int = WINDOW_DAYS
) -> list[LowStockRow]:
    """Active products whose on-hand (summed over their locations) is at or below their
    reorder level, the ones that
    run out soonest first (then the largest shortfall, then sku). One query, no locks.

    The consumption window is (now - window_days, now]; ``now`` defaults to the current
    time (pass another to see the report as the window would be then; on-hand is always
    the current balance). Raises ValueError if window_days < 1.
    """
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    now = now or timezone.now()
    params = {
        "now": now,
        "since": now - timedelta(days=window_days),
        "days": window_days,
        "restock": MovementKind.RESTOCK,
        "consumption": MovementKind.CONSUMPTION,
        "reversal": MovementKind.REVERSAL,
    }
    with connection.cursor() as cursor:
        cursor.execute(_LOW_STOCK, params)
        return [LowStockRow(*row) for row in cursor.fetchall()]


COLUMNS = (
    "sku",
    "name",
    "on_hand",
    "reorder_level",
    "shortfall",
    "last_restock_at",
    "consumed_per_day",
    "days_of_cover",
)


def render_text(rows: list[LowStockRow], *, now: datetime, window_days: int = WINDOW_DAYS) -> str:
    """An aligned table: text columns left-aligned, figures right-aligned."""
    title = (
        f"Low stock at {_minute(now)}: {len(rows)} product(s) at or below their reorder"
        f" level (consumption over the last {window_days} days)"
    )
    if not rows:
        return title + "\n"
    header = ("SKU", "NAME", "ON HAND", "REORDER", "SHORTFALL", "LAST RESTOCK", "PER DAY", "COVER")
    right = (False, False, True, True, True, False, True, True)
    cells = [header] + [
        (
            row.sku,
            row.name,
            str(row.on_hand),
            str(row.reorder_level),
            str(row.shortfall),
            _minute(row.last_restock_at) if row.last_restock_at else "never",
            str(row.consumed_per_day),
            "∞" if row.days_of_cover is None else f"{row.days_of_cover} d",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]

    def line(values) -> str:
        return "  ".join(
            value.rjust(width) if is_right else value.ljust(width)
            for value, width, is_right in zip(values, widths, right, strict=True)
        )

    table = [line(cells[0]), line(["-" * width for width in widths])]
    table += [line(values) for values in cells[1:]]
    return "\n".join([title, "", *table]) + "\n"


def render_csv(rows: list[LowStockRow]) -> str:
    """One header line, one line per product; an unknown restock time or cover is empty.
    Figures stay numbers; a sku or name that a spreadsheet would run as a formula is
    prefixed with ``'`` (core.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        record = _record(row)
        writer.writerow("" if record[column] is None else record[column] for column in COLUMNS)
    return buffer.getvalue()


def render_json(rows: list[LowStockRow], *, now: datetime, window_days: int = WINDOW_DAYS) -> str:
    """``{"generated_at", "window_days", "products": [...]}``; figures are numbers,
    unknown ones null."""
    document = {
        "generated_at": now.isoformat(),
        "window_days": window_days,
        "products": [_record(row, numbers=True) for row in rows],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _record(row: LowStockRow, *, numbers: bool = False) -> dict:
    def figure(value: Decimal | None):
        if value is None or not numbers:
            return value
        return float(value)

    return {
        "product": row.product_id,
        "sku": row.sku,
        "name": row.name,
        "on_hand": row.on_hand,
        "reorder_level": row.reorder_level,
        "shortfall": row.shortfall,
        "last_restock_at": row.last_restock_at.isoformat() if row.last_restock_at else None,
        "consumed_per_day": figure(row.consumed_per_day),
        "days_of_cover": figure(row.days_of_cover),
    }


def _minute(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
