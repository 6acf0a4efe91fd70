"""The movements' order-line index covers only the movements that have an order line.

Every movement was entered in it, a NULL for all but orders' consumptions and their
reversals: a 1,000-line receipt made 1,000 entries of NULL. The lookups by order line
(the foreign key's check when an order line is deleted, an order's movements) name one,
so the partial index serves them all. Building it locks the movement table (each
partition in turn) while it reads it: on a large ledger, run it in a quiet moment.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_balance_fillfactor"),
        ("ordering", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX ledger_movement_order_line_id_9b8799a4",
                    "CREATE INDEX ledger_movement_order_line_id_9b8799a4"
                    " ON ledger_movement (order_line_id)",
                )
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="movement",
                    name="order_line",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="movements",
                        to="ordering.orderline",
                    ),
                )
            ],
        ),
        migrations.AddIndex(
            model_name="movement",
            index=models.Index(
                condition=models.Q(("order_line__isnull", False)),
                fields=["order_line"],
                name="movement_order_line_idx",
            ),
        ),
    ]
