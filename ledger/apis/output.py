"""A movement as every ledger endpoint renders it."""

from rest_framework import serializers

from core.rendering import Renderer


class MovementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    kind = serializers.CharField()
    quantity = serializers.IntegerField()
    reason = serializers.CharField()
    seq = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    reference = serializers.CharField()
    note = serializers.CharField()
    order_line = serializers.IntegerField(source="order_line_id", allow_null=True)
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True)
    location = serializers.CharField(source="location.code", help_text="The location's code.")
    reserved_after = serializers.IntegerField(help_text="Units reserved here right after.")
    incoming_after = serializers.IntegerField(help_text="Units on their way here right after.")
    reservation = serializers.IntegerField(
        source="reservation_id", allow_null=True, help_text="The reservation it holds or resolves."
    )
    transfer = serializers.IntegerField(
        source="transfer_id", allow_null=True, help_text="The transfer it is a leg of."
    )
    receipt = serializers.IntegerField(
        source="receipt_id", allow_null=True, help_text="The delivery it received."
    )
    stocktake = serializers.IntegerField(
        source="stocktake_id", allow_null=True, help_text="The count it corrects to."
    )


class MovementListOutput(MovementOutput):
    sku = serializers.CharField(source="product.sku")
    order = serializers.IntegerField(source="order_id", allow_null=True)


render_movement = Renderer(MovementOutput)
render_movement_row = Renderer(MovementListOutput)
