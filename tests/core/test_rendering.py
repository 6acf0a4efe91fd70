from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

from rest_framework import serializers

from core.rendering import Renderer


class Line(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    price = serializers.DecimalField(max_digits=6, decimal_places=2)
    when = serializers.DateTimeField()
    note = serializers.CharField(allow_null=True)
    secret = serializers.CharField(write_only=True)


def test_renderer_matches_the_serializer_it_is_built_from():
    item = SimpleNamespace(
        product=SimpleNamespace(sku="A"),
        price=Decimal("1.5"),
        when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        note=None,
        secret="x",
    )
    render = Renderer(Line)
    assert render(item) == dict(Line(item).data)
    assert render.many([item, item]) == [dict(row) for row in Line([item, item], many=True).data]
