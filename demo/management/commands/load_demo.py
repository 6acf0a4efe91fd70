from django.core.management.base import BaseCommand

from demo.services import demo_load


class Command(BaseCommand):
    help = "Create a small demo catalogue, stock, orders and one user per role (idempotent)."

    def handle(self, *args, **options):
        credentials = demo_load()
        self.stdout.write("Demo data loaded. Sign in with:")
        for role, (username, password) in credentials.items():
            self.stdout.write(f"  {role:<10} {username} / {password}")
