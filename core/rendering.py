"""Fast rendering with DRF output serializers.

Instantiating a DRF serializer deep-copies its declared fields, which costs more than
the rest of a stock write's Python work; an output serializer's fields are stateless
once bound, so they are bound once here and reused. The serializer class stays the one
definition of the output (and of the OpenAPI schema).
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db.models.manager import BaseManager
from rest_framework.fields import CharField, IntegerField, SkipField, is_simple_callable
from rest_framework.serializers import ListSerializer, Serializer

# Fields whose to_representation is exactly this builtin (the classes themselves, not
# subclasses, which may override it): called directly, without the method call.
_BUILTIN = {IntegerField: int, CharField: str}
_MISSING = object()


class Renderer:
    def __init__(self, serializer_class: type[Serializer]) -> None:
        self.serializer_class = serializer_class
        self.fields = [f for f in serializer_class().fields.values() if not f.write_only]
        # Per field: its name, the attribute it reads when its source is one plain name
        # (None: a dotted source or "*", read by DRF), and how its value is rendered.
        self._plan = [
            (
                field,
                field.field_name,
                field.source_attrs[0] if len(field.source_attrs) == 1 else None,
                _render(field),
            )
            for field in self.fields
        ]

    def __call__(self, instance: Any) -> dict:
        """What ``serializer_class(instance).data`` holds. A field with a plain source
        is read with one getattr (or one item lookup for a mapping), as DRF's
        get_attribute would; anything else (a missing attribute, a method to call, a
        dotted source) goes through DRF's own path."""
        mapping = isinstance(instance, Mapping)
        data = {}
        for field, name, attribute, render in self._plan:
            value = _MISSING
            if attribute is not None:
                try:
                    value = instance[attribute] if mapping else getattr(instance, attribute)
                except (KeyError, AttributeError):
                    value = _MISSING
                if is_simple_callable(value):
                    value = _MISSING
            if value is _MISSING:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            data[name] = None if value is None else render(value)
        return data

    def many(self, instances: Iterable[Any]) -> list[dict]:
        if isinstance(instances, BaseManager):  # as ListSerializer reads a relation
            instances = instances.all()
        return [self(instance) for instance in instances]


def _render(field) -> Callable[[Any], Any]:
    """How a field's value is rendered: a builtin for the plain fields, a Renderer for a
    nested list of serializers, else the field's own to_representation."""
    if type(field) in _BUILTIN:
        return _BUILTIN[type(field)]
    if isinstance(field, ListSerializer) and type(field.child).to_representation is (
        Serializer.to_representation
    ):
        return Renderer(type(field.child)).many
    return field.to_representation


def renderer(serializer_class: type[Serializer]) -> Callable[[Any], dict]:
    return Renderer(serializer_class)
