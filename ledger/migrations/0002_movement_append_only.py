"""Invariant 1: the ledger is append-only. The database itself refuses UPDATE, DELETE
and TRUNCATE of movements, whoever sends them; mistakes are corrected by new movements."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_movement_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_movement is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Correct stock with a new adjustment or reversal movement.';
END;
$$;

CREATE TRIGGER ledger_movement_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_movement
    FOR EACH ROW EXECUTE FUNCTION ledger_movement_append_only();

CREATE TRIGGER ledger_movement_no_truncate
    BEFORE TRUNCATE ON ledger_movement
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_append_only();
"""

BACKWARD = """
DROP TRIGGER ledger_movement_no_truncate ON ledger_movement;
DROP TRIGGER ledger_movement_no_update_or_delete ON ledger_movement;
DROP FUNCTION ledger_movement_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
