"""An order of one line at the default location, the most common order, placed by one
statement: the product read, the order and its line written and the line's consumption
posted (ledger.posting.posting_with_sql), run as its own transaction when nothing else
is in it (core.db.single_statement, in ordering.services). The request then costs one
round trip where the general path takes five (the token check, BEGIN, the order, the
posting and COMMIT): the statement checks the caller's token too, or, where the caller
is already known, two.

The order's and the line's ids are drawn from their sequences before anything is
written, so that the movement's hash, computed by the UPDATE, covers the line's id as
it does on the general path. If the product is unknown or archived, the total over the
limit or the units not available, the statement writes nothing (the order and its line
are written only if the balance row was updated, and the UPDATE only if the order can
be written) and returns no row: ordering.services.order_place then takes the general
path, which places the order (stock may have arrived meanwhile) or says precisely why
not. A sequence value drawn then is skipped, as a rolled-back insert skips one."""

from decimal import Decimal

from accounts.authentication import TokenCheck, caller_sql
from accounts.roles import Role
from catalog.models import Product
from core.db import prepared_cursor
from core.instances import saved_instance
from events.types import REGISTRY
from ledger.models import MovementKind
from ledger.posting import posting_values_sql, posting_with_sql
from ordering.models import Order, OrderLine, OrderStatus

MAX_TOTAL = Decimal("999999999999.99")  # Order.total: 14 digits, 2 of them decimals


def _posting() -> dict[str, str]:
    return posting_values_sql(
        kind=MovementKind.CONSUMPTION,
        quantity="(-q.quantity)",
        product_id="q.product_id",
        actor_id="q.customer_id",
        reason="''",
        reference="'order ' || q.order_id",  # as the general path's "order <id>"
        note="''",
        order_line_id="q.line_id",
    )


# order.placed's data as ordering.events.order_event writes it (decimals as text).
_PLACED_EVENT = f"""
 UNION ALL SELECT 1, 0::bigint, 'order.placed'::varchar,
        {REGISTRY["order.placed"].version}::smallint, clock_timestamp(),
        ('order/' || o.id)::varchar,
        jsonb_build_object(
            'order', o.id, 'customer', q.customer_id, 'total', o.total::text,
            'lines', jsonb_build_array(jsonb_build_object(
                'line', q.line_id, 'product', q.product_id, 'quantity', q.quantity,
                'unit_price', q.price::text)),
            'reservation', NULL)
   FROM ordered AS o, q"""


def _order_one_line_sql(*, before: str, source: str, customer: str) -> str:
    """The statement for a customer whose id is ``customer`` (a SQL expression), read
    from ``source`` (joined to the product: ``, name``) that ``before`` defines."""
    return posting_with_sql(
        before=f"""{before}q AS (
    SELECT p.id AS product_id, p.sku, p.name, p.price,
           %(quantity)s::bigint AS quantity, {customer}::bigint AS customer_id,
           nextval('{Order._meta.db_table}_id_seq') AS order_id,
           nextval('{OrderLine._meta.db_table}_id_seq') AS line_id
      FROM {Product._meta.db_table} AS p{source}
     WHERE p.id = %(product)s::bigint AND p.is_active
       AND p.price * %(quantity)s::bigint <= {MAX_TOTAL}
), """,
        row_from="q",
        posting=_posting(),
        after=f""",
ordered AS (
    INSERT INTO {Order._meta.db_table} (id, customer_id, status, total, created_at)
    SELECT q.order_id, q.customer_id, '{OrderStatus.PLACED}', q.price * q.quantity,
           clock_timestamp()
      FROM q WHERE EXISTS (SELECT FROM u)
    RETURNING id, created_at, total
),
line AS (
    INSERT INTO {OrderLine._meta.db_table} (id, order_id, product_id, unit_price, quantity)
    SELECT q.line_id, q.order_id, q.product_id, q.price, q.quantity
      FROM q WHERE EXISTS (SELECT FROM u)
)""",
        events=_PLACED_EVENT,
        result="SELECT o.id, o.created_at, o.total, q.line_id, q.product_id, q.sku, q.name,"
        " q.price, q.customer_id FROM ordered AS o, q",
    )


_ORDER_ONE_LINE = _order_one_line_sql(before="", source="", customer="%(customer)s")
# The same for the caller whose token it checks (accounts.authentication.TokenCheck),
# if allowed to order (the orders endpoint's permission).
_ORDER_ONE_LINE_CHECKED = _order_one_line_sql(
    before=caller_sql(Role.CUSTOMER, Role.WAREHOUSE) + ", ",
    source=", caller",
    customer="caller.user_id",
)


def order_place_one_line(
    *,
    customer_id: int | None = None,
    check: TokenCheck | None = None,
    product_id: int,
    quantity: int,
) -> Order | None:
    """Place an order of ``quantity`` units of one product at the default location, in
    one statement, for ``customer_id`` or else for the user whose token ``check`` names
    (which the statement checks: no such user allowed to order, no order); None, having
    written nothing, if it cannot be placed so (the caller then takes the general path).
    One statement, as its caller's whole transaction (core.db.single_statement). Locks
    the balance row for the rest of that statement (and the commit). Raises nothing of
    its own."""
    params = {"product": product_id, "quantity": quantity}
    if check is None:
        sql, params["customer"] = _ORDER_ONE_LINE, customer_id
    else:
        sql, params = _ORDER_ONE_LINE_CHECKED, {**params, **check.params}
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    order_id, created_at, total, line_id, product_id, sku, name, price, customer_id = row
    return placed_order(
        customer_id=customer_id,
        order_id=order_id,
        created_at=created_at,
        total=total,
        lines=[(line_id, product_id, sku, name, price, quantity)],
    )


def placed_order(*, customer_id: int, order_id: int, created_at, total, lines) -> Order:
    """The Order just written, with its lines (``lines``: (line id, product id, sku,
    name, unit price, quantity), in line order) and their products, as the API renders
    them: no query."""
    order = saved_instance(
        Order,
        id=order_id,
        customer_id=customer_id,
        status=OrderStatus.PLACED,
        created_at=created_at,
        cancelled_at=None,
        total=total,
    )
    order.prefetched_lines = []
    for line_id, product_id, sku, name, price, quantity in lines:
        product = saved_instance(Product, id=product_id, sku=sku, name=name, price=price)
        line = saved_instance(
            OrderLine,
            id=line_id,
            order_id=order_id,
            product_id=product_id,
            quantity=quantity,
            unit_price=price,
        )
        line._state.fields_cache["product"] = product
        order.prefetched_lines.append(line)
    return order
