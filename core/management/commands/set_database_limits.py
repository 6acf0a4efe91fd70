"""Make DATABASE_LOCK_TIMEOUT_MS and DATABASE_STATEMENT_TIMEOUT_MS the defaults of the
app's database role, in its database (ALTER ROLE ... IN DATABASE ... SET).

Without a pooler the app sends the limits with every connection (config/settings.py).
Through PgBouncer (DATABASE_POOLED) it cannot: PgBouncer opens the server connections,
and they start with the role's defaults, which this command sets. Run it at deployment,
after migrate, with the app's own settings (docs/scaling.md). New server connections get
the new values; existing ones keep theirs until PgBouncer replaces them.
"""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = "Store the lock and statement limits as the app role's defaults in its database."

    def handle(self, *args, **options):
        limits = {
            "lock_timeout": settings.DATABASE_LOCK_TIMEOUT_MS,
            "statement_timeout": settings.DATABASE_STATEMENT_TIMEOUT_MS,
        }
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_database()")
            (database,) = cursor.fetchone()
            quoted = connection.ops.quote_name(database)
            for name, milliseconds in limits.items():
                # A role may set its own defaults; values are integers from settings.
                cursor.execute(
                    f"ALTER ROLE CURRENT_USER IN DATABASE {quoted} SET {name} = {int(milliseconds)}"
                )
        self.stdout.write(
            ", ".join(f"{name} = {ms} ms" for name, ms in limits.items())
            + f" for new connections of this role to {database}"
        )
