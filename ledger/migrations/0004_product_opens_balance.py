"""Every product has its balance row, opened by the ledger itself.

The catalogue knows nothing of the ledger (apps depend one way: catalog <- ledger), so
the ledger's own trigger opens a product's balance (on hand 0) in the transaction that
inserts the product, whoever inserts it. The catalogue never writes the ledger's table.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_open_balance() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_stockbalance (product_id, on_hand, version, last_hash, updated_at)
    VALUES (NEW.id, 0, 0, '', clock_timestamp())
    ON CONFLICT (product_id) DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER catalog_product_opens_balance
    AFTER INSERT ON catalog_product
    FOR EACH ROW EXECUTE FUNCTION ledger_open_balance();

-- Products created before this migration already have theirs; this covers any gap.
INSERT INTO ledger_stockbalance (product_id, on_hand, version, last_hash, updated_at)
SELECT p.id, 0, 0, '', clock_timestamp() FROM catalog_product p
 WHERE NOT EXISTS (SELECT 1 FROM ledger_stockbalance b WHERE b.product_id = p.id);
"""

BACKWARD = """
DROP TRIGGER catalog_product_opens_balance ON catalog_product;
DROP FUNCTION ledger_open_balance();
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_movement_fewer_indexes"), ("catalog", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
