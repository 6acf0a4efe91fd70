import getpass

from django.core.management.base import BaseCommand, CommandError

from accounts.exceptions import PasswordRejected
from accounts.roles import Role
from accounts.services import user_create


class Command(BaseCommand):
    help = (
        "Create a user (or reset one) with a role: customer, warehouse, auditor,"
        " integration or admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.CUSTOMER)
        parser.add_argument("--password", help="prompted for when omitted")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, role, password, email, **options):
        if not password:
            if not options.get("interactive", True):
                raise CommandError("--password is required when not interactive.")
            try:
                password = getpass.getpass("Password: ")
                again = getpass.getpass("Password (again): ")
            except EOFError:  # no terminal and nothing on stdin: say so, no traceback
                raise CommandError(
                    "No password given: run it at a terminal to be prompted, or pass --password."
                ) from None
            if password != again:
                raise CommandError("The passwords do not match.")
        if not password:
            raise CommandError("The password must not be empty.")
        try:
            user = user_create(username=username, password=password, role=Role(role), email=email)
        except PasswordRejected as rejected:
            reasons = " ".join(rejected.data["errors"])
            raise CommandError(f"The password was refused: {reasons}") from rejected
        self.stdout.write(f"User {user.username!r} has the role {role}.")
