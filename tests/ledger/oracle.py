"""An independent check of the ledger invariants (docs/design.md, "The ledger"), in SQL,
so tests do not rely only on the code they test. Everything is per (product, location)."""

from django.db import connection


def assert_ledger_consistent() -> None:
    with connection.cursor() as cursor:
        # 3. on_hand = sum of quantities, version = number of movements (every kind of
        # movement today moves units on or off the shelf; nothing reserved or incoming).
        cursor.execute("""
            SELECT b.product_id, b.location_id, b.on_hand, b.version,
                   COALESCE(SUM(m.quantity), 0), COUNT(m.id)
              FROM ledger_stockbalance b
              LEFT JOIN ledger_movement m USING (product_id, location_id)
          GROUP BY b.product_id, b.location_id, b.on_hand, b.version
            HAVING b.on_hand <> COALESCE(SUM(m.quantity), 0) OR b.version <> COUNT(m.id)
        """)
        assert cursor.fetchall() == [], "balance rows disagree with their movements"
        cursor.execute("""
            SELECT product_id, location_id FROM ledger_movement
            EXCEPT SELECT product_id, location_id FROM ledger_stockbalance
        """)
        assert cursor.fetchall() == [], "movements without a balance row"
        cursor.execute("""
            SELECT id FROM ledger_stockbalance
             WHERE reserved <> 0 OR incoming <> 0 OR on_hand < reserved
        """)
        assert cursor.fetchall() == [], "reserved or incoming without a movement for them"
        # seq is gapless 1..n and balance_after is the running sum, never negative.
        cursor.execute("""
            SELECT product_id, location_id, seq FROM (
                SELECT product_id, location_id, seq, balance_after,
                       ROW_NUMBER() OVER w AS expected_seq,
                       SUM(quantity) OVER w AS running
                  FROM ledger_movement
                WINDOW w AS (PARTITION BY product_id, location_id ORDER BY seq)
            ) t
             WHERE seq <> expected_seq OR balance_after <> running OR balance_after < 0
        """)
        assert cursor.fetchall() == [], "seq or running balance broken"
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
