"""An independent check of the ledger invariants (docs/design.md, "The ledger"), in SQL,
so tests do not rely only on the code they test. Everything is per (product, location).

The effect of each kind of movement on the figures is written out here again, not taken
from ledger.fold, so that a mistake there shows up as a disagreement."""

from django.db import connection

# The change each kind makes to on hand, reserved and incoming, per unit of quantity.
_ON_HAND = """(CASE kind WHEN 'restock' THEN 1 WHEN 'consumption' THEN 1 WHEN 'adjustment' THEN 1
    WHEN 'reversal' THEN 1 WHEN 'commit' THEN 1 WHEN 'transfer_out' THEN 1
    WHEN 'transfer_in' THEN 1 WHEN 'transfer_return' THEN 1 ELSE 0 END * quantity)"""
_RESERVED = """(CASE kind WHEN 'hold' THEN 1 WHEN 'commit' THEN 1 WHEN 'release' THEN 1
    WHEN 'expiry' THEN 1 ELSE 0 END * quantity)"""
_INCOMING = """(CASE kind WHEN 'in_transit' THEN 1 WHEN 'transfer_in' THEN -1
    WHEN 'transit_cancel' THEN 1 ELSE 0 END * quantity)"""


def assert_ledger_consistent() -> None:
    with connection.cursor() as cursor:
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
                OR balance_after < reserved_after OR reserved_after < 0
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
    _assert_reservations_consistent()


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
