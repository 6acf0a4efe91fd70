from django.conf import settings
from django.core.mail import EmailMessage
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.db import report_statement_timeout
from ledger.alerts import mail_connection
from ledger.reports import (
    WINDOW_DAYS,
    low_stock_report,
    render_csv,
    render_json,
    render_text,
)


class Command(BaseCommand):
    help = (
        "List the active products at or below their reorder level: on-hand, shortfall, "
        "last restock, units consumed per day over the last 30 days and days of cover."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--format", dest="output_format", choices=("text", "csv", "json"), default="text"
        )
        parser.add_argument(
            "--email",
            action="store_true",
            help="Mail the report to LOW_STOCK_ALERT_EMAILS instead of printing it "
            "(the text table in the body; csv or json also attached).",
        )

    @report_statement_timeout()
    def handle(self, *args, output_format="text", email=False, **options):
        now = timezone.now()
        rows = low_stock_report(now=now)
        if output_format == "csv":
            report = render_csv(rows)
        elif output_format == "json":
            report = render_json(rows, now=now, window_days=WINDOW_DAYS)
        else:
            report = render_text(rows, now=now, window_days=WINDOW_DAYS)
        if not email:
            self.stdout.write(report, ending="")
            return

        recipients = list(settings.LOW_STOCK_ALERT_EMAILS)
        if not recipients:
            raise CommandError("LOW_STOCK_ALERT_EMAILS is empty: nobody to send the report to.")
        message = EmailMessage(
            subject=f"Low stock report: {len(rows)} product(s) at or below their reorder level",
            body=render_text(rows, now=now, window_days=WINDOW_DAYS),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            connection=mail_connection(),
        )
        if output_format != "text":
            mimetype = "text/csv" if output_format == "csv" else "application/json"
            message.attach(f"low-stock-{now:%Y%m%d-%H%M}.{output_format}", report, mimetype)
        try:
            message.send()
        except OSError as error:  # smtplib's errors are OSErrors too
            raise CommandError(f"The report was not sent: {error}") from error
        self.stdout.write(
            f"Sent the low stock report ({len(rows)} product(s)) to {', '.join(recipients)}."
        )
