import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor


def unapplied_migrations() -> list[str]:
    """The migrations on disk that the database has not recorded as applied. Reads the
    migration table; takes no locks. Raises DatabaseError if the database does not
    answer."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


class Command(BaseCommand):
    help = (
        "Wait until the database answers and every migration is applied (by another "
        "process), then exit 0; exit 1 after --timeout seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=300, help="seconds (300)")
        parser.add_argument("--interval", type=float, default=2, help="seconds between checks")

    def handle(self, *args, timeout, interval, **options):
        deadline = time.monotonic() + timeout
        last_state = None
        while True:
            try:
                pending = unapplied_migrations()
                state = f"{len(pending)} migration(s) not applied yet" if pending else None
            except DatabaseError as error:
                connection.close()  # reconnect on the next check
                state = f"the database does not answer ({str(error).strip()})"
            if state is None:
                self.stdout.write("The database schema is up to date.")
                return
            if time.monotonic() >= deadline:
                raise CommandError(f"Gave up after {timeout:g} s: {state}.")
            if state != last_state:  # one line per change, not one per check
                self.stdout.write(f"Waiting for the database schema: {state}.")
                self.stdout.flush()  # seen in the container's log while it waits
                last_state = state
            time.sleep(interval)
