"""The movement table partitioned by month of recorded_at (docs/design.md, "Partitions").

Converts today's table: a partitioned table of the same columns and CHECK constraints,
one partition per month from the oldest movement's to three months ahead plus a DEFAULT
partition, the rows copied over (ids, seqs and hashes unchanged, so every chain verifies
before and after), the old table dropped, its indexes, foreign keys and triggers made
again on the new one, and the id sequence continuing after the largest id.

What PostgreSQL cannot keep on a partitioned table, and what replaces it:
- a unique key must contain the partition key: the primary key is (id, recorded_at).
  Django still treats id as the primary key; ids come from one sequence, never reused.
- nothing can reference id alone: the foreign keys to movements (a stock alert's
  movement, a reversal's reverses) go. Movements are never deleted (the append-only
  trigger), so PROTECT had nothing left to do; a reversal's movement is checked to exist
  by the insert trigger below; an alert is written by the posting's statement from the
  movements it has just inserted.
- unique (product, location, seq) and unique reverses_id can only be per partition. The
  insert trigger below keeps both across partitions: it enters each new movement's
  (product, location, seq) in ledger_movement_seq and each reversed movement in
  ledger_movement_reversed, two plain tables whose primary keys refuse a second one.

The copy holds the table's lock until the migration commits: on a large ledger, run it
in a quiet moment.
"""

import django.db.models.deletion
from django.db import migrations, models

# The partitions a migration makes: every month from the oldest movement's to this
# many months after the current one (the ledger_partitions command makes later ones).
MONTHS_AHEAD = 3

# The movement table's indexes, the same on the partitioned table (each partition gets
# its own) and on the single table going back.
INDEXES = """CREATE INDEX movement_location_as_of_idx
    ON ledger_movement (product_id, location_id, recorded_at, seq);
CREATE INDEX ledger_movement_recorded_at_2e4d11a2 ON ledger_movement (recorded_at);
CREATE INDEX ledger_movement_actor_id_04d78954 ON ledger_movement (actor_id);
CREATE INDEX ledger_movement_order_line_id_9b8799a4 ON ledger_movement (order_line_id);
"""
PARTIAL_INDEXES = """CREATE INDEX movement_reference_idx ON ledger_movement (reference)
    WHERE reference <> '';
CREATE INDEX movement_reservation_idx ON ledger_movement (reservation_id, id)
    WHERE reservation_id IS NOT NULL;
CREATE INDEX movement_transfer_idx ON ledger_movement (transfer_id, id)
    WHERE transfer_id IS NOT NULL;
CREATE INDEX movement_receipt_idx ON ledger_movement (receipt_id, id)
    WHERE receipt_id IS NOT NULL;
CREATE INDEX movement_stocktake_idx ON ledger_movement (stocktake_id, id)
    WHERE stocktake_id IS NOT NULL;
"""

FORWARD = f"""
-- The copied rows' foreign keys are checked as they are inserted, not at commit: a table
-- with pending trigger events cannot be altered afterwards.
SET CONSTRAINTS ALL IMMEDIATE;

-- Foreign keys to movements cannot stay: nothing can reference a partitioned id alone.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
              WHERE contype = 'f' AND confrelid = 'ledger_movement'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END $$;

ALTER TABLE ledger_movement RENAME TO ledger_movement_unpartitioned;
-- Same columns in the same order, NOT NULLs and CHECK constraints (with their names).
CREATE TABLE ledger_movement (LIKE ledger_movement_unpartitioned INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (recorded_at);

-- Its foreign keys to other tables, as they were.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
              WHERE contype = 'f' AND conrelid = 'ledger_movement_unpartitioned'::regclass
    LOOP
        EXECUTE format('ALTER TABLE ledger_movement ADD CONSTRAINT %I %s', c.conname, c.def);
    END LOOP;
END $$;

CREATE TABLE ledger_movement_default PARTITION OF ledger_movement DEFAULT;
DO $$
DECLARE
    month timestamptz;
    last timestamptz := date_trunc('month', now(), 'UTC') + interval '{MONTHS_AHEAD} months';
BEGIN
    month := COALESCE(
        (SELECT date_trunc('month', min(recorded_at), 'UTC') FROM ledger_movement_unpartitioned),
        date_trunc('month', now(), 'UTC'));
    WHILE month <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF ledger_movement FOR VALUES FROM (%L) TO (%L)',
            'ledger_movement_' || to_char(month AT TIME ZONE 'UTC', '"y"YYYY"m"MM'),
            month, month + interval '1 month');
        month := month + interval '1 month';
    END LOOP;
END $$;

INSERT INTO ledger_movement SELECT * FROM ledger_movement_unpartitioned ORDER BY id;

-- Each reversed movement, once: the one-reversal-per-movement rule across partitions.
CREATE TABLE ledger_movement_reversed (movement_id bigint PRIMARY KEY);
INSERT INTO ledger_movement_reversed (movement_id)
SELECT reverses_id FROM ledger_movement_unpartitioned WHERE reverses_id IS NOT NULL;

-- Each (product, location, seq), once: the seq uniqueness across partitions.
CREATE TABLE ledger_movement_seq (
    product_id bigint NOT NULL,
    location_id bigint NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (product_id, location_id, seq)
);
INSERT INTO ledger_movement_seq (product_id, location_id, seq)
SELECT product_id, location_id, seq FROM ledger_movement_unpartitioned
 ORDER BY product_id, location_id, seq;

DROP TABLE ledger_movement_unpartitioned;

CREATE SEQUENCE ledger_movement_id_seq OWNED BY ledger_movement.id;
SELECT setval('ledger_movement_id_seq', COALESCE(max(id), 0) + 1, false) FROM ledger_movement;
ALTER TABLE ledger_movement ALTER COLUMN id SET DEFAULT nextval('ledger_movement_id_seq');

ALTER TABLE ledger_movement ADD CONSTRAINT ledger_movement_pkey PRIMARY KEY (id, recorded_at);
{INDEXES}CREATE INDEX movement_reverses_idx ON ledger_movement (reverses_id)
    WHERE reverses_id IS NOT NULL;
{PARTIAL_INDEXES}
-- Append-only, as migration 0002 made it: the row trigger is cloned onto every
-- partition; a statement trigger is not, so each partition gets its own TRUNCATE guard.
CREATE TRIGGER ledger_movement_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_movement
    FOR EACH ROW EXECUTE FUNCTION ledger_movement_append_only();
CREATE TRIGGER ledger_movement_no_truncate
    BEFORE TRUNCATE ON ledger_movement
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_append_only();

-- Whether a movement is in a detached month still present (ledger.partitions): a
-- reversal may undo a movement whose month was detached. One index seek per detached
-- table, newest first, and only for a reversal whose movement is not in the table.
CREATE FUNCTION ledger_movement_detached_exists(movement bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    detached text;
    present boolean;
BEGIN
    FOR detached IN SELECT name FROM ledger_detachedpartition ORDER BY ends_at DESC LOOP
        IF to_regclass(detached) IS NOT NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id = $1)', detached)
               INTO present USING movement;
            IF present THEN
                RETURN true;
            END IF;
        END IF;
    END LOOP;
    RETURN false;
END;
$$;

-- After each INSERT statement, over the rows it inserted (one call per statement, not
-- per row): each (product, location, seq) is entered in ledger_movement_seq, whose
-- primary key refuses one inserted before, in any partition; and a reversal's movement
-- must exist and not have been reversed before. Set-based, so a plan cannot go wrong
-- with stale statistics (no join to a table the statistics may think empty).
CREATE FUNCTION ledger_movement_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_movement_seq (product_id, location_id, seq)
    SELECT product_id, location_id, seq FROM inserted;
    INSERT INTO ledger_movement_reversed (movement_id)
    SELECT reverses_id FROM inserted WHERE reverses_id IS NOT NULL;
    IF FOUND AND EXISTS (
        SELECT 1 FROM inserted AS i
         WHERE i.reverses_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM ledger_movement AS m WHERE m.id = i.reverses_id)
           AND NOT ledger_movement_detached_exists(i.reverses_id)
    ) THEN
        RAISE EXCEPTION 'ledger_movement: a reversal names a movement that does not exist'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'movement_reverses_exists';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_movement_inserted
    AFTER INSERT ON ledger_movement REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_inserted();

-- Per partition: the TRUNCATE guard, and the insert trigger for rows inserted into the
-- partition directly (statement triggers fire only on the table a statement names).
DO $$
DECLARE p regclass;
BEGIN
    FOR p IN SELECT inhrelid::regclass FROM pg_inherits
              WHERE inhparent = 'ledger_movement'::regclass
    LOOP
        EXECUTE format('CREATE TRIGGER ledger_movement_no_truncate BEFORE TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_append_only()', p);
        EXECUTE format('CREATE TRIGGER ledger_movement_inserted AFTER INSERT ON %s'
                       ' REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT'
                       ' EXECUTE FUNCTION ledger_movement_inserted()', p);
    END LOOP;
END $$;
"""

# Back to one table, as migration 0006 left it; refused once partitions were detached.
BACKWARD = f"""
SET CONSTRAINTS ALL IMMEDIATE;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_detachedpartition) THEN
        RAISE EXCEPTION 'ledger 0007 cannot be unapplied: partitions were detached';
    END IF;
END $$;

ALTER TABLE ledger_movement RENAME TO ledger_movement_partitioned;
CREATE TABLE ledger_movement (LIKE ledger_movement_partitioned INCLUDING CONSTRAINTS);
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
              WHERE contype = 'f' AND conrelid = 'ledger_movement_partitioned'::regclass
                AND conparentid = 0
    LOOP
        EXECUTE format('ALTER TABLE ledger_movement ADD CONSTRAINT %I %s', c.conname, c.def);
    END LOOP;
END $$;
INSERT INTO ledger_movement SELECT * FROM ledger_movement_partitioned ORDER BY id;
DROP TABLE ledger_movement_partitioned;
DROP FUNCTION ledger_movement_inserted();
DROP FUNCTION ledger_movement_detached_exists(bigint);
DROP TABLE ledger_movement_reversed;
DROP TABLE ledger_movement_seq;

ALTER TABLE ledger_movement ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
SELECT setval(pg_get_serial_sequence('ledger_movement', 'id'), COALESCE(max(id), 0) + 1, false)
  FROM ledger_movement;
ALTER TABLE ledger_movement
    ADD CONSTRAINT ledger_movement_pkey PRIMARY KEY (id),
    ADD CONSTRAINT movement_location_seq_unique UNIQUE (product_id, location_id, seq),
    ADD CONSTRAINT ledger_movement_reverses_id_key UNIQUE (reverses_id),
    ADD CONSTRAINT ledger_movement_reverses_id_890190d8_fk_ledger_movement_id
        FOREIGN KEY (reverses_id) REFERENCES ledger_movement (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE ledger_stockalert
    ADD CONSTRAINT ledger_stockalert_movement_id_dfe813d5_fk_ledger_movement_id
        FOREIGN KEY (movement_id) REFERENCES ledger_movement (id) DEFERRABLE INITIALLY DEFERRED;
{INDEXES}{PARTIAL_INDEXES}CREATE TRIGGER ledger_movement_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_movement
    FOR EACH ROW EXECUTE FUNCTION ledger_movement_append_only();
CREATE TRIGGER ledger_movement_no_truncate
    BEFORE TRUNCATE ON ledger_movement
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("ledger", "0006_reservations_transfers_receipts"),
    ]

    operations = [
        migrations.CreateModel(
            name="DetachedPartition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=63, unique=True)),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField(unique=True)),
                ("movements", models.PositiveBigIntegerField()),
                ("detached_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["ends_at"]},
        ),
        migrations.CreateModel(
            name="ChainCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.PositiveBigIntegerField()),
                ("hash", models.CharField(max_length=64)),
                ("hash_version", models.PositiveSmallIntegerField()),
                ("on_hand", models.BigIntegerField()),
                ("reserved", models.BigIntegerField()),
                ("incoming", models.BigIntegerField()),
                (
                    "location",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="ledger.location",
                    ),
                ),
                (
                    "partition",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="checkpoints",
                        to="ledger.detachedpartition",
                    ),
                ),
                (
                    "product",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="catalog.product",
                    ),
                ),
            ],
            options={
                "ordering": ["partition", "product", "location"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("product", "location", "partition"),
                        name="checkpoint_chain_partition_unique",
                    )
                ],
            },
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="movement", name="movement_location_seq_unique"
                ),
                migrations.AlterField(
                    model_name="movement",
                    name="reverses",
                    field=models.OneToOneField(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversed_by",
                        to="ledger.movement",
                    ),
                ),
                migrations.AlterField(
                    model_name="stockalert",
                    name="movement",
                    field=models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="alert",
                        to="ledger.movement",
                    ),
                ),
            ],
        ),
    ]
