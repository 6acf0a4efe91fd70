"""The movement history as a streamed CSV file."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from accounts.permissions import CanAudit
from ledger.filters import MovementFilter
from ledger.models import Movement
from ledger.selectors import movement_list


class _Echo:
    def write(self, value):
        return value


EXPORT_COLUMNS = (
    "id",
    "product",
    "sku",
    "kind",
    "quantity",
    "reason",
    "seq",
    "balance_after",
    "recorded_at",
    "actor",
    "reference",
    "order",
    "order_line",
    "reverses",
    "note",
)


class MovementExportApi(APIView):
    """Every matching movement as CSV, streamed from a server-side cursor: no page limit
    and bounded memory."""

    permission_classes = (CanAudit,)
    filterset_class = MovementFilter
    filter_backends = (DjangoFilterBackend,)  # for the schema's filter parameters
    queryset = Movement.objects.none()

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, filters=True)
    def get(self, request):
        movements = movement_list(filters=request.query_params)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(EXPORT_COLUMNS)
            for m in movements.iterator(chunk_size=2000):
                yield writer.writerow(
                    (
                        m.id,
                        m.product_id,
                        m.product.sku,
                        m.kind,
                        m.quantity,
                        m.reason,
                        m.seq,
                        m.balance_after,
                        m.recorded_at.isoformat(),
                        m.actor_id or "",
                        m.reference,
                        m.order_id or "",
                        m.order_line_id or "",
                        m.reverses_id or "",
                        m.note,
                    )
                )

        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="movements-{stamp}.csv"'
        return response
