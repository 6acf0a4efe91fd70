"""The per-product hash chain: each movement's hash covers the previous movement's hash
of the same product and this movement's canonical fields, so rewriting any movement
(even with the append-only trigger disabled) breaks every later hash of that product."""

import hashlib
import json
from datetime import UTC, datetime

GENESIS = ""  # the "previous hash" of a product's first movement


def canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def movement_hash(
    *,
    prev_hash: str,
    product_id: int,
    seq: int,
    kind: str,
    quantity: int,
    balance_after: int,
    recorded_at: datetime,
    actor_id: int | None,
    reason: str,
    reference: str,
    note: str,
    order_line_id: int | None,
    reverses_id: int | None,
) -> str:
    payload = json.dumps(
        [
            prev_hash,
            product_id,
            seq,
            kind,
            quantity,
            balance_after,
            canonical_time(recorded_at),
            actor_id,
            reason,
            reference,
            note,
            order_line_id,
            reverses_id,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
