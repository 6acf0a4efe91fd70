"""Placing and cancelling orders: each one transaction through the ledger's posting."""

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from ledger.models import Movement, MovementKind
from ledger.posting import Posting, movements_post
from ordering.exceptions import (
    OrderNotCancellable,
    OrderNotFound,
    OrderTooLarge,
    UnknownProducts,
)
from ordering.models import Order, OrderLine, OrderStatus
from ordering.selectors import order_get

MAX_LINES = 100
# Units in one order, all lines together. It also bounds the original API's answer,
# which lists one product id per unit.
MAX_UNITS = 10_000
MAX_TOTAL = Decimal("999999999999.99")  # Order.total: 14 digits, 2 of them decimals


def merge_lines(lines: Iterable[tuple[int, int]]) -> dict[int, int]:
    """(product, quantity) pairs -> {product: total quantity}, first appearance first."""
    merged: Counter[int] = Counter()
    for product_id, quantity in lines:
        merged[product_id] += quantity
    return dict(merged)


@transaction.atomic
def order_place(
    *, customer_id: int, lines: Iterable[tuple[int, int]], location_id: int | None = None
) -> Order:
    """Place an order: one consumption movement per product, all or nothing, taking
    available units at one location (None: the default one).

    Reads the products (one query, for prices and to refuse unknown or archived ones),
    writes the order and its lines, then posts through movements_post, which locks the
    balance rows in (product, location) order. Costs n + 3 statements for n products
    (two more at a named location).
    Raises OrderTooLarge, UnknownProducts, InsufficientStock (every short line),
    UnknownLocation; nothing is written then.
    """
    quantities = merge_lines(lines)
    if not 1 <= len(quantities) <= MAX_LINES:
        raise OrderTooLarge(f"An order has 1 to {MAX_LINES} products.")
    if sum(quantities.values()) > MAX_UNITS:
        raise OrderTooLarge(f"An order has at most {MAX_UNITS} units.")
    products = _sellable_products(list(quantities))
    unknown = sorted(set(quantities) - set(products))
    if unknown:
        raise UnknownProducts(products=unknown)

    total = sum((products[p].price * q for p, q in quantities.items()), Decimal("0.00"))
    if total > MAX_TOTAL:
        raise OrderTooLarge(f"An order's total cannot exceed {MAX_TOTAL}.")
    order = Order(customer_id=customer_id, status=OrderStatus.PLACED, total=total)
    order_lines = [
        OrderLine(product=products[p], quantity=q, unit_price=products[p].price)
        for p, q in quantities.items()
    ]
    _insert_order(order, order_lines)
    movements_post(
        postings=[
            Posting(
                product_id=line.product_id,
                kind=MovementKind.CONSUMPTION,
                quantity=-line.quantity,
                order_line_id=line.id,
                reference=f"order {order.id}",
                location_id=location_id,
            )
            for line in order_lines
        ],
        actor_id=customer_id,
    )
    order.prefetched_lines = order_lines
    return order


def _sellable_products(product_ids: list[int]) -> dict[int, Product]:
    """The active products among ``product_ids``, with what an order line copies."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sku, name, price FROM catalog_product WHERE id = ANY(%s) AND is_active",
            [product_ids],
        )
        return {
            row[0]: Product(id=row[0], sku=row[1], name=row[2], price=row[3])
            for row in cursor.fetchall()
        }


def _insert_order(order: Order, lines: list[OrderLine]) -> None:
    """Insert the order and its lines in one statement; sets their ids and created_at.

    Placing an order is the hot path, so this is one round trip instead of the ORM's
    two (and their query compilation)."""
    values = ", ".join(["(%s::bigint, %s::integer, %s::numeric, %s::integer)"] * len(lines))
    params: list = [order.customer_id, order.status, order.total]
    for position, line in enumerate(lines):
        params += [position, line.product_id, line.unit_price, line.quantity]
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH o AS (INSERT INTO ordering_order (customer_id, status, total, created_at)"
            " VALUES (%s, %s, %s, clock_timestamp()) RETURNING id, created_at),"
            " l AS (INSERT INTO ordering_orderline (order_id, product_id, unit_price, quantity)"
            f" SELECT o.id, v.product_id, v.unit_price, v.quantity FROM o, (VALUES {values})"
            " AS v(position, product_id, unit_price, quantity) ORDER BY v.position"
            " RETURNING id, product_id)"
            " SELECT o.id, o.created_at, l.id, l.product_id FROM o, l ORDER BY l.id",
            params,
        )
        rows = cursor.fetchall()
    order.id, order.created_at = rows[0][0], rows[0][1]
    order._state.adding = False
    line_ids = {product_id: line_id for _, _, line_id, product_id in rows}
    for line in lines:
        line.id, line.order_id = line_ids[line.product_id], order.id
        line._state.adding = False
    order.prefetched_lines = lines


@transaction.atomic
def order_cancel(*, order_id: int, actor_id: int, customer_id: int | None) -> Order:
    """Cancel a placed order: one reversal movement per line, each pointing at the
    consumption it undoes, and the status change, in one transaction.

    ``customer_id`` limits the cancel to that customer's orders (None: any order, for
    warehouse staff). Locks the order row with a conditional UPDATE, so of concurrent
    cancels exactly one wins; then the balance rows in (product, location) order. The
    units go back to the location they were taken from.
    Raises OrderNotFound (no such order, or another customer's), OrderNotCancellable.
    """
    placed = Order.objects.filter(pk=order_id, status=OrderStatus.PLACED)
    if customer_id is not None:
        placed = placed.filter(customer_id=customer_id)
    # One conditional UPDATE: it takes the order row's lock, and a concurrent cancel
    # that committed first leaves no PLACED row to match.
    cancelled = placed.update(status=OrderStatus.CANCELLED, cancelled_at=timezone.now()) == 1
    if not cancelled:
        visible = Order.objects.filter(pk=order_id)
        if customer_id is not None:
            visible = visible.filter(customer_id=customer_id)
        if not visible.exists():
            raise OrderNotFound(order=order_id)
        raise OrderNotCancellable(order=order_id)

    consumptions = Movement.objects.filter(
        order_line__order_id=order_id, kind=MovementKind.CONSUMPTION
    ).values_list("id", "product_id", "quantity", "order_line_id", "location_id")
    movements_post(
        postings=[
            Posting(
                product_id=product_id,
                kind=MovementKind.REVERSAL,
                quantity=-quantity,
                order_line_id=line_id,
                reverses_id=movement_id,
                reference=f"order {order_id} cancelled",
                location_id=location_id,
            )
            for movement_id, product_id, quantity, line_id, location_id in consumptions
        ],
        actor_id=actor_id,
    )
    # Read back with its lines and products, as the API renders it.
    return order_get(order_id=order_id, customer_id=None)
