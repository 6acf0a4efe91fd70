"""Balance pages half full, so that updating a balance stays on its page (a HOT update).

Every posting updates balance rows, and a posting of many lines (a receipt, a
stocktake) updates many rows of the same pages in one transaction. An updated row's new
version goes on the same page only if it has room; without room it goes elsewhere and
every index of the table gets a new entry for it. With pages filled to the default
100%, a 1,000-line receipt made about a quarter of its updates HOT; at 50%, all of them
(docs/design.md, "Performance"). The cost is a balance table twice the size: a few
megabytes for a catalogue of 100,000 products.

The setting applies to pages filled from now on: an existing table reaches it as its
rows move, or at once with ``VACUUM FULL ledger_stockbalance`` in a quiet moment (it
locks the table while it rewrites it).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_movement_partitioned")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE ledger_stockbalance SET (fillfactor = 50)",
            "ALTER TABLE ledger_stockbalance RESET (fillfactor)",
        )
    ]
