"""The movement history as a streamed CSV file, resumable after an interruption."""

from datetime import datetime
from operator import attrgetter

from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.permissions import CanAudit
from core import csv
from core.db import report_chunks
from ledger.filters import MovementFilter
from ledger.models import Movement
from ledger.movement_fields import CSV_FIELDS
from ledger.selectors import movement_export_list


class _Echo:
    def write(self, value):
        return value


EXPORT_COLUMNS = tuple(field.key for field in CSV_FIELDS)
_READERS = tuple(attrgetter(field.source) for field in CSV_FIELDS)


def _cell(value):
    """A CSV cell: an empty one for None, ISO 8601 for a time."""
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else value


class ExportQuery(serializers.Serializer):
    after_id = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=(
            "Resume an interrupted export: only the rows after the movement with this id in "
            "the export's order (newest first, so ids below it). Pass the id of the last "
            "complete row received, with the same filters; an answer with only the header "
            "line means nothing was missing."
        ),
    )


class MovementExportApi(APIView):
    """Every matching movement as CSV, newest first (descending id), streamed in chunks
    read by id (core.db.report_chunks): no page limit, bounded memory, and no server-side
    cursor, so it works through PgBouncer too. ``after_id`` resumes an
    interrupted export. Text cells that a spreadsheet would run as a formula are
    prefixed with ``'`` (core.csv)."""

    permission_classes = (CanAudit,)
    filterset_class = MovementFilter
    filter_backends = (DjangoFilterBackend,)  # for the schema's filter parameters
    queryset = Movement.objects.none()

    @extend_schema(
        parameters=[ExportQuery], responses={(200, "text/csv"): OpenApiTypes.STR}, filters=True
    )
    def get(self, request):
        query = ExportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        movements = movement_export_list(
            filters=request.query_params, after_id=query.validated_data.get("after_id")
        )
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(EXPORT_COLUMNS)
            for m in report_chunks(movements, chunk_size=2000):
                yield writer.writerow([_cell(read(m)) for read in _READERS])

        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="movements-{stamp}.csv"'
        return response
