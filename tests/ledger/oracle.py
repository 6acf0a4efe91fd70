"""An independent check of the ledger invariants (docs/design.md, "The ledger"), in SQL,
so tests do not rely only on the code they test. Everything is per (product, location).

The effect of each kind of movement on the three figures is written out here again, on
purpose, rather than taken from ledger.fold: a mistake there must show up here."""

from django.db import connection

# kind -> (on_hand, reserved, incoming) coefficients of the signed quantity.
_EFFECTS = {
    "restock": (1, 0, 0),
    "consumption": (1, 0, 0),
    "adjustment": (1, 0, 0),
    "reversal": (1, 0, 0),
    "hold": (0, 1, 0),
    "commit": (1, 1, 0),
    "release": (0, 1, 0),
    "expiry": (0, 1, 0),
    "transfer_out": (1, 0, 0),
    "in_transit": (0, 0, 1),
    "transfer_in": (1, 0, -1),
    "transit_cancel": (0, 0, 1),
    "transfer_return": (1, 0, 0),
}


def _delta(index: int) -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {c[index]}" for kind, c in _EFFECTS.items())
    return f"(CASE kind {cases} END * quantity)"


_ON_HAND, _RESERVED, _INCOMING = _delta(0), _delta(1), _delta(2)


def assert_ledger_consistent() -> None:
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # A check, not the product: after a test wrote thousands of rows that the
            # statistics do not know yet, its aggregates may plan badly; let them finish.
            cursor.execute("SET LOCAL statement_timeout = 120000")
        cursor.execute("SELECT DISTINCT kind FROM ledger_movement")
        unknown = {kind for (kind,) in cursor.fetchall()} - set(_EFFECTS)
        assert not unknown, f"kinds the oracle does not know: {unknown}"
        # 3. The figures are the fold of the movements, version = number of movements.
        cursor.execute(f"""
            SELECT b.product_id, b.location_id FROM ledger_stockbalance b
              LEFT JOIN (
                  SELECT product_id, location_id, SUM({_ON_HAND}) AS on_hand,
                         SUM({_RESERVED}) AS reserved, SUM({_INCOMING}) AS incoming,
                         COUNT(*) AS n
                    FROM ledger_movement GROUP BY product_id, location_id
              ) m USING (product_id, location_id)
             WHERE b.on_hand <> COALESCE(m.on_hand, 0) OR b.reserved <> COALESCE(m.reserved, 0)
                OR b.incoming <> COALESCE(m.incoming, 0) OR b.version <> COALESCE(m.n, 0)
        """)
        assert cursor.fetchall() == [], "balance rows disagree with their movements"
        cursor.execute("""
            SELECT product_id, location_id FROM ledger_movement
            EXCEPT SELECT product_id, location_id FROM ledger_stockbalance
        """)
        assert cursor.fetchall() == [], "movements without a balance row"
        cursor.execute("""
            SELECT id FROM ledger_stockbalance
             WHERE on_hand < reserved OR reserved < 0 OR incoming < 0
        """)
        assert cursor.fetchall() == [], "figures out of range"
        # seq is gapless 1..n and the *_after figures are the running sums, in range.
        cursor.execute(f"""
            SELECT product_id, location_id, seq FROM (
                SELECT product_id, location_id, seq, balance_after, reserved_after,
                       incoming_after,
                       ROW_NUMBER() OVER w AS expected_seq,
                       SUM({_ON_HAND}) OVER w AS on_hand,
                       SUM({_RESERVED}) OVER w AS reserved,
                       SUM({_INCOMING}) OVER w AS incoming
                  FROM ledger_movement
                WINDOW w AS (PARTITION BY product_id, location_id ORDER BY seq)
            ) t
             WHERE seq <> expected_seq OR balance_after <> on_hand
                OR reserved_after <> reserved OR incoming_after <> incoming
                OR balance_after < reserved_after OR reserved_after < 0 OR incoming_after < 0
        """)
        assert cursor.fetchall() == [], "seq or running figures broken"
        # recorded_at never goes backwards within a (product, location).
        cursor.execute("""
            SELECT product_id, location_id, seq FROM (
                SELECT product_id, location_id, seq, recorded_at,
                       LAG(recorded_at) OVER (
                           PARTITION BY product_id, location_id ORDER BY seq
                       ) AS prev
                  FROM ledger_movement
            ) t WHERE recorded_at < prev
        """)
        assert cursor.fetchall() == [], "recorded_at went backwards"
        # A transfer announces at its destination what it takes from its origin, returns
        # to its origin what it stops expecting, and receives at most what is in transit.
        cursor.execute("""
            SELECT t.id FROM ledger_transfer t
              JOIN ledger_movement m ON m.transfer_id = t.id
          GROUP BY t.id
            HAVING SUM(CASE m.kind WHEN 'transfer_out' THEN -m.quantity
                                   WHEN 'in_transit' THEN -m.quantity ELSE 0 END) <> 0
                OR SUM(CASE m.kind WHEN 'transfer_return' THEN m.quantity
                                   WHEN 'transit_cancel' THEN m.quantity ELSE 0 END) <> 0
                OR SUM(CASE m.kind WHEN 'in_transit' THEN m.quantity
                                   WHEN 'transit_cancel' THEN m.quantity
                                   WHEN 'transfer_in' THEN -m.quantity ELSE 0 END) < 0
        """)
        assert cursor.fetchall() == [], "a transfer's legs do not add up"
        _assert_transfer_lines_consistent(cursor)
    _assert_reservations_consistent()


def _assert_transfer_lines_consistent(cursor) -> None:
    """Each transfer line's movements add up to its counts, a transfer is open exactly
    while something of it is in transit, and a location's incoming is what the
    transfers in transit towards it still owe it."""
    cursor.execute("""
        SELECT l.id FROM ledger_transferline l
          JOIN ledger_transfer t ON t.id = l.transfer_id
          LEFT JOIN ledger_movement m ON m.transfer_id = t.id AND m.product_id = l.product_id
      GROUP BY l.id, l.quantity, l.received, l.cancelled, t.from_location_id, t.to_location_id
        HAVING l.received + l.cancelled > l.quantity
            OR COALESCE(SUM(-m.quantity) FILTER (
                   WHERE m.kind = 'transfer_out' AND m.location_id = t.from_location_id), 0)
               <> l.quantity
            OR COALESCE(SUM(m.quantity) FILTER (
                   WHERE m.kind = 'in_transit' AND m.location_id = t.to_location_id), 0)
               <> l.quantity
            OR COALESCE(SUM(m.quantity) FILTER (
                   WHERE m.kind = 'transfer_in' AND m.location_id = t.to_location_id), 0)
               <> l.received
            OR COALESCE(SUM(-m.quantity) FILTER (
                   WHERE m.kind = 'transit_cancel' AND m.location_id = t.to_location_id), 0)
               <> l.cancelled
            OR COALESCE(SUM(m.quantity) FILTER (
                   WHERE m.kind = 'transfer_return' AND m.location_id = t.from_location_id), 0)
               <> l.cancelled
            OR COUNT(m.id) FILTER (
                   WHERE m.location_id NOT IN (t.from_location_id, t.to_location_id)) > 0
    """)
    assert cursor.fetchall() == [], "transfer lines disagree with their movements"
    cursor.execute("""
        SELECT t.id FROM ledger_transfer t JOIN ledger_transferline l ON l.transfer_id = t.id
      GROUP BY t.id, t.status, t.closed_at
        HAVING (t.status = 'in_transit')
               <> (SUM(l.quantity - l.received - l.cancelled) > 0)
            OR (t.status = 'in_transit') <> (t.closed_at IS NULL)
            OR (t.status = 'received' AND SUM(l.cancelled) > 0)
            OR (t.status = 'cancelled' AND SUM(l.cancelled) = 0)
    """)
    assert cursor.fetchall() == [], "a transfer's status disagrees with its lines"
    cursor.execute("""
        SELECT b.product_id, b.location_id FROM ledger_stockbalance b
          LEFT JOIN (
                SELECT l.product_id, t.to_location_id AS location_id,
                       SUM(l.quantity - l.received - l.cancelled) AS owed
                  FROM ledger_transferline l JOIN ledger_transfer t ON t.id = l.transfer_id
              GROUP BY l.product_id, t.to_location_id
          ) o USING (product_id, location_id)
         WHERE b.incoming <> COALESCE(o.owed, 0)
    """)
    assert cursor.fetchall() == [], "incoming disagrees with the transfers in transit"


def _assert_reservations_consistent() -> None:
    """What is reserved is what held reservations hold, and each reservation's movements
    are those of its status: held, a hold per line; committed, the hold, a commit of the
    committed units and a release of the rest; released, the hold and its release;
    expired, the hold and its expiry."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT b.product_id, b.location_id FROM ledger_stockbalance b
              LEFT JOIN (
                  SELECT l.product_id, r.location_id, SUM(l.quantity) AS held
                    FROM ledger_reservation r
                    JOIN ledger_reservationline l ON l.reservation_id = r.id
                   WHERE r.status = 'held'
                   GROUP BY l.product_id, r.location_id
              ) h USING (product_id, location_id)
             WHERE b.reserved <> COALESCE(h.held, 0)
        """)
        assert cursor.fetchall() == [], "reserved units are not what held reservations hold"
        cursor.execute("""
            SELECT r.id, l.product_id FROM ledger_reservation r
              JOIN ledger_reservationline l ON l.reservation_id = r.id
              LEFT JOIN (
                  SELECT reservation_id, product_id, location_id,
                         SUM(quantity) FILTER (WHERE kind = 'hold') AS hold,
                         COUNT(*) FILTER (WHERE kind = 'hold') AS holds,
                         COALESCE(SUM(-quantity) FILTER (WHERE kind = 'commit'), 0) AS commit,
                         COALESCE(SUM(-quantity) FILTER (WHERE kind = 'release'), 0)
                             AS release,
                         COALESCE(SUM(-quantity) FILTER (WHERE kind = 'expiry'), 0) AS expiry
                    FROM ledger_movement WHERE reservation_id IS NOT NULL
                   GROUP BY reservation_id, product_id, location_id
              ) m ON m.reservation_id = r.id AND m.product_id = l.product_id
                 AND m.location_id = r.location_id
             WHERE m.holds IS DISTINCT FROM 1 OR m.hold <> l.quantity
                OR m.commit <> l.committed
                OR (r.status = 'held' AND m.commit + m.release + m.expiry <> 0)
                OR (r.status = 'committed'
                    AND (m.release <> l.quantity - l.committed OR m.expiry <> 0))
                OR (r.status = 'released'
                    AND (m.release <> l.quantity OR m.commit + m.expiry <> 0))
                OR (r.status = 'expired'
                    AND (m.expiry <> l.quantity OR m.commit + m.release <> 0))
        """)
        assert cursor.fetchall() == [], "a reservation's movements do not match its status"
        cursor.execute("""
            SELECT m.id FROM ledger_movement m
              LEFT JOIN ledger_reservationline l
                ON l.reservation_id = m.reservation_id AND l.product_id = m.product_id
             WHERE m.reservation_id IS NOT NULL AND l.id IS NULL
        """)
        assert cursor.fetchall() == [], "a reservation movement for a product it does not hold"
