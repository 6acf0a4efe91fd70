"""The HTTP benchmark's data set: 1,000 products with stock, 64 customers and a warehouse
user, each with a token, written through the services of the tree that imports it.

Imported by bench/http_bench.py (this checkout, in the benchmark's own process), or run
as a script inside another tree (bench/http_baseline.py: ``python -c <this file>`` with
that tree as the working directory and PYTHONPATH, and DATABASE_URL set), where it
prints the set-up as one line of JSON. So it imports nothing from ``bench`` and only
services whose signatures have not changed.
"""

from __future__ import annotations

import time
from decimal import Decimal

PRODUCT_COUNT = 1_000
STOCK = 10_000_000  # enough that no order in the run is refused
CUSTOMER_COUNT = 64


def seed() -> dict:
    """Write the data set in one transaction; return the ids and tokens the clients use
    and, as a check of what was imported, the file of ``ledger.posting``."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    import ledger.posting
    from accounts.roles import Role
    from accounts.services import token_create, user_create
    from catalog.services import product_create
    from ledger.services import stock_restock

    started = time.monotonic()
    with transaction.atomic():
        warehouse = user_create(
            username="http-warehouse", password="bench-pass-1", role=Role.WAREHOUSE
        )
        product_ids = []
        for number in range(PRODUCT_COUNT):
            product = product_create(
                sku=f"HTTP-{number:04d}", name=f"HTTP product {number}", price=Decimal("2.50")
            )
            stock_restock(product_id=product.id, quantity=STOCK, actor_id=warehouse.id)
            product_ids.append(product.id)
        customers = [
            get_user_model().objects.create_user(username=f"http-customer-{n}")
            for n in range(CUSTOMER_COUNT)
        ]
        customer_tokens = [token_create(user=user)[0] for user in customers]
        warehouse_token = token_create(user=warehouse)[0]
    return {
        "product_ids": product_ids,
        "customer_tokens": customer_tokens,
        "warehouse_token": warehouse_token,
        "actor_id": warehouse.id,
        "seconds": time.monotonic() - started,
        "imported": ledger.posting.__file__,
    }


if __name__ == "__main__":
    import json

    import django

    django.setup()
    print(json.dumps(seed()))
