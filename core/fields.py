"""Serializer fields with limits drf-spectacular cannot infer, documented alongside."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers


class NonZeroIntegerField(serializers.IntegerField):
    """An integer other than 0 (a signed quantity that must change something)."""

    default_error_messages = {"zero": "Must not be zero."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == 0:
            self.fail("zero")
        return value


class NonZeroIntegerFieldSchema(OpenApiSerializerFieldExtension):
    """The schema says what the field says: ``not: {enum: [0]}`` (OpenAPI 3.0 has no
    ``const``)."""

    target_class = NonZeroIntegerField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "not": {"enum": [0]}}
