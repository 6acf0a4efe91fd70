"""The gap-safe global position.

A sequence gives numbers in the order transactions *draw* them, not the order they
*commit*: a follower that has read position 11 could later find 10 committed. So:

- every event's position is ``(transaction id << 20) + its number in the transaction``
  (the column default, ``events_next_position()``, migration 0001; a statement that
  writes many events takes their numbers at once with ``events_take_positions(n)``,
  migration 0003, from the same counter): positions sort by the id of the writing
  transaction;
- a reader serves only positions below ``pg_snapshot_xmin(pg_current_snapshot()) << 20``:
  every transaction with a smaller id has finished (committed or rolled back), so no
  event below that mark can appear later. Transaction ids are assigned in increasing
  order, so anything that commits later has a larger id, hence a larger position,
  than the mark.

The cost: a writing transaction that stays open holds the mark back (followers wait for
it, they never miss it), and positions are large, sparse integers (fit in 63 bits;
below 2**53 for the first 8 billion transactions). Reads need no lock and writes no
extra statement: the posting's own statement inserts the events.
"""

# The highest position that can be served: below every transaction still running.
SAFE_BOUND = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20)"
