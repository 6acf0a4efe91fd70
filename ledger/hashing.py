"""The hash chain of each (product, location): each movement's hash covers the previous
movement's hash in the same chain and this movement's canonical fields, so rewriting
any movement (even with the append-only trigger disabled) breaks every later hash of
that chain.

The payload is versioned (Movement.hash_version), so that a movement keeps verifying
under the scheme it was written with:
- 1: the fields before locations existed. Every such movement was moved to the default
  location by migration 0005, and the default location's chain continues from them.
- 2: adds the location and the reserved and incoming figures; the version itself leads
  the payload, so a version 2 movement cannot pass for a version 1 one.
- 3: adds the reservation, transfer, receipt and stocktake the movement belongs to.
"""

import hashlib
import json
from datetime import UTC, datetime

GENESIS = ""  # the "previous hash" of a chain's first movement
CURRENT_VERSION = 3

# The fields each version covers, in payload order, after the previous hash.
FIELDS: dict[int, tuple[str, ...]] = {
    1: (
        "product_id",
        "seq",
        "kind",
        "quantity",
        "balance_after",
        "recorded_at",
        "actor_id",
        "reason",
        "reference",
        "note",
        "order_line_id",
        "reverses_id",
    ),
    2: (
        "product_id",
        "location_id",
        "seq",
        "kind",
        "quantity",
        "balance_after",
        "reserved_after",
        "incoming_after",
        "recorded_at",
        "actor_id",
        "reason",
        "reference",
        "note",
        "order_line_id",
        "reverses_id",
    ),
}
FIELDS[3] = (
    *FIELDS[2],
    "reservation_id",
    "transfer_id",
    "receipt_id",
    "stocktake_id",
)
# Every field some version covers: what verify_ledger reads of each movement.
ALL_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(f for fields in FIELDS.values() for f in fields))


def canonical_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def movement_hash(*, hash_version: int = CURRENT_VERSION, prev_hash: str, **fields) -> str:
    """The hash of a movement with ``fields`` (at least those of FIELDS[hash_version];
    others are ignored) chained to ``prev_hash``. Raises KeyError for an unknown version
    or a missing field."""
    values = [
        canonical_time(fields[name]) if name == "recorded_at" else fields[name]
        for name in FIELDS[hash_version]
    ]
    head = [prev_hash] if hash_version == 1 else [hash_version, prev_hash]
    payload = json.dumps([*head, *values], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# How each field a hash covers is written in the payload, for hash_sql.
_SQL_TEXT = frozenset({"kind", "reason", "reference", "note"})


def hash_sql(*, prev_hash: str, fields: dict[str, str], hash_version: int = CURRENT_VERSION) -> str:
    """The SQL expression of movement_hash: the same payload, byte for byte, built by
    PostgreSQL, so that a posting can hash its movement in the statement that writes it
    (ledger.posting) and the hash needs no round trip. ``prev_hash`` and ``fields`` (every
    field of FIELDS[hash_version], by name) are SQL expressions.

    json.dumps(..., ensure_ascii=False) and PostgreSQL's to_json() escape a string the
    same way (the two-character escapes for \\b \\f \\n \\r \\t " and \\, \\u00xx for
    other control characters, everything else as it is); an integer is its decimal text
    and None is null; a time is canonical_time's text. tests/ledger/test_hash_sql.py
    holds the two to each other."""
    if hash_version == 1:
        raise ValueError("version 1 has no version in its payload; only later ones here")
    parts = [f"'{hash_version}'", f"to_json(({prev_hash})::text)::text"]
    for name in FIELDS[hash_version]:
        expr = fields[name]
        if name == "recorded_at":
            parts.append(
                f"""'"' || to_char(({expr}) AT TIME ZONE 'UTC',"""
                """ 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"'"""
            )
        elif name in _SQL_TEXT:
            parts.append(f"to_json(({expr})::text)::text")
        else:
            parts.append(f"COALESCE(({expr})::text, 'null')")
    payload = " || ',' || ".join(parts)
    return f"encode(sha256(convert_to('[' || {payload} || ']', 'UTF8')), 'hex')"
