"""Positions taken for a whole statement's events at once.

``events_next_position()``, the column's default, takes one position a call: a posting
of 1,000 movements called it 1,000 times, about 2 ms of its statement while it held
1,000 balance rows' locks. ``events_take_positions(n)`` takes ``n`` consecutive
positions of the same transaction-local counter and returns the first (NULL for none,
without giving the transaction an id); a statement that writes many events numbers
them from it (ledger.posting). Both share the counter, so a transaction can mix them.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION events_take_positions(n bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    first bigint := COALESCE(NULLIF(current_setting('events.position', true), ''), '-1')::bigint + 1;
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'events_take_positions: % is not a number of events', n;
    END IF;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF first + n > 1048576 THEN
        RAISE EXCEPTION 'a transaction writes at most 1048576 events';
    END IF;
    PERFORM set_config('events.position', (first + n - 1)::text, true);
    RETURN (pg_current_xact_id()::text::bigint << 20) + first;
END
$$;
"""
REVERSE = "DROP FUNCTION events_take_positions(bigint);"


class Migration(migrations.Migration):
    dependencies = [("events", "0002_endpoint_fanned_out_to")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
