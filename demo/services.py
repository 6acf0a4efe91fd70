"""Demo data for `make run`: users, a catalogue, its stock as restock movements at the
main warehouse and at a second location, a few orders, a transfer in transit to the
second location and a customer's held reservation, all through the services. Loading it
twice changes nothing."""

from decimal import Decimal

from accounts.roles import Role
from accounts.services import user_create
from catalog.models import Product
from catalog.services import product_create
from ledger.models import Location, Movement, Reservation, Transfer
from ledger.reservations import MAX_TTL_SECONDS, reservation_create
from ledger.services import location_create, stock_restock
from ledger.transfers import transfer_create
from ordering.models import Order
from ordering.services import order_place

DEMO_USERS = {
    Role.CUSTOMER: ("customer", "customer-demo-pass"),
    Role.WAREHOUSE: ("warehouse", "warehouse-demo-pass"),
    Role.AUDITOR: ("auditor", "auditor-demo-pass"),
    Role.ADMIN: ("admin", "admin-demo-pass"),
}

# sku, name, price, reorder level, units received
DEMO_CATALOGUE = [
    ("PEN-BLU", "Ballpoint pen, blue (box of 50)", "12.50", 10, 120),
    ("PEN-RED", "Ballpoint pen, red (box of 50)", "12.50", 10, 40),
    ("PAP-A4", "Copy paper A4, 80 g (5 reams)", "24.90", 20, 200),
    ("STP-24", "Staples 24/6 (box of 5000)", "3.20", 15, 60),
    ("BND-A4", "Ring binder A4, 2 rings", "2.75", 25, 30),
    ("TAP-19", "Adhesive tape 19 mm (8 rolls)", "6.40", 10, 12),
    ("NOT-A5", "Notebook A5, squared", "1.95", 50, 400),
    ("MRK-BLK", "Whiteboard marker, black (10)", "8.90", 5, 0),
]

# A second location, and what it received: code, name, [(sku, units)].
DEMO_STORE = ("STORE-2", "High Street shop", [("PEN-BLU", 15), ("PAP-A4", 10), ("NOT-A5", 25)])

# Sent from the main warehouse to the second location, not received yet: (sku, units).
DEMO_TRANSFER = ("DEMO-TR-1", [("PEN-BLU", 6), ("PAP-A4", 4)])
# Held for the demo customer at the main warehouse, for as long as a hold may last.
DEMO_RESERVATION = ("cart DEMO-1", [("PEN-BLU", 2), ("NOT-A5", 3)])

DEMO_ORDERS = [
    [("PEN-BLU", 10), ("PAP-A4", 20)],
    [("STP-24", 5)],
    [("NOT-A5", 40), ("BND-A4", 6), ("TAP-19", 3)],
]


def demo_load() -> dict[str, tuple[str, str]]:
    """Create what is missing of the demo data; returns {role: (username, password)}."""
    users = {
        role: user_create(username=username, password=password, role=role)
        for role, (username, password) in DEMO_USERS.items()
    }
    existing = set(Product.objects.values_list("sku", flat=True))
    for sku, name, price, reorder_level, received in DEMO_CATALOGUE:
        if sku in existing:
            continue
        product = product_create(
            sku=sku, name=name, price=Decimal(price), reorder_level=reorder_level
        )
        if received:
            stock_restock(
                product_id=product.id,
                quantity=received,
                actor_id=users[Role.WAREHOUSE].id,
                reference="DEMO-DN-1",
            )
    _load_store(actor_id=users[Role.WAREHOUSE].id)
    customer = users[Role.CUSTOMER]
    ids = dict(Product.objects.values_list("sku", "id"))
    if not Order.objects.filter(customer=customer).exists():
        for lines in DEMO_ORDERS:
            order_place(customer_id=customer.id, lines=[(ids[sku], q) for sku, q in lines])
    _load_transfer(actor_id=users[Role.WAREHOUSE].id, ids=ids)
    reference, lines = DEMO_RESERVATION
    if not Reservation.objects.filter(reference=reference).exists():
        reservation_create(
            customer_id=customer.id,
            created_by_id=customer.id,
            lines=[(ids[sku], q) for sku, q in lines],
            ttl_seconds=MAX_TTL_SECONDS,
            reference=reference,
        )
    return {str(role): creds for role, creds in DEMO_USERS.items()}


def _load_transfer(*, actor_id: int, ids: dict[str, int]) -> None:
    """Goods on their way from the main warehouse to the second location."""
    reference, lines = DEMO_TRANSFER
    if Transfer.objects.filter(reference=reference).exists():
        return
    transfer_create(
        from_location_id=Location.objects.get(is_default=True).id,
        to_location_id=Location.objects.get(code=DEMO_STORE[0]).id,
        lines=[(ids[sku], q) for sku, q in lines],
        actor_id=actor_id,
        reference=reference,
    )


def _load_store(*, actor_id: int) -> None:
    """The second location and its first delivery, unless it has received anything."""
    code, name, received = DEMO_STORE
    store = Location.objects.filter(code=code).first() or location_create(code=code, name=name)
    if Movement.objects.filter(location=store).exists():
        return
    ids = dict(Product.objects.values_list("sku", "id"))
    for sku, units in received:
        stock_restock(
            product_id=ids[sku],
            quantity=units,
            actor_id=actor_id,
            reference="DEMO-DN-2",
            location_id=store.id,
        )
