"""Fast rendering with DRF output serializers.

Instantiating a DRF serializer deep-copies its declared fields, which costs more than
the rest of a stock write's Python work; an output serializer's fields are stateless
once bound, so they are bound once here and reused. The serializer class stays the one
definition of the output (and of the OpenAPI schema).
"""

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework.fields import SkipField
from rest_framework.serializers import Serializer


class Renderer:
    def __init__(self, serializer_class: type[Serializer]) -> None:
        self.serializer_class = serializer_class
        self.fields = [f for f in serializer_class().fields.values() if not f.write_only]

    def __call__(self, instance: Any) -> dict:
        data = {}
        for field in self.fields:
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            data[field.field_name] = (
                None if attribute is None else field.to_representation(attribute)
            )
        return data

    def many(self, instances: Iterable[Any]) -> list[dict]:
        return [self(instance) for instance in instances]


def renderer(serializer_class: type[Serializer]) -> Callable[[Any], dict]:
    return Renderer(serializer_class)
