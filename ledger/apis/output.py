"""A movement as every ledger endpoint renders it: its fields come from
ledger.movement_fields, where each is defined once."""

from rest_framework import serializers

from core.rendering import Renderer
from ledger.movement_fields import FIELDS, MovementField

_FIELD_CLASSES = {
    "integer": serializers.IntegerField,
    "string": serializers.CharField,
    "datetime": serializers.DateTimeField,
}


def _serializer_field(field: MovementField) -> serializers.Field:
    kwargs = {"help_text": field.help}
    if field.source != field.key:  # DRF refuses a source equal to the name
        kwargs["source"] = field.source
    if field.nullable:
        kwargs["allow_null"] = True
    return _FIELD_CLASSES[field.type](**kwargs)


MovementOutput = type(
    "MovementOutput",
    (serializers.Serializer,),
    {
        "__module__": __name__,
        **{f.key: _serializer_field(f) for f in FIELDS if not f.history_only},
    },
)
MovementListOutput = type(
    "MovementListOutput",
    (MovementOutput,),
    {
        "__module__": __name__,
        **{f.key: _serializer_field(f) for f in FIELDS if f.history_only},
    },
)

render_movement = Renderer(MovementOutput)
render_movement_row = Renderer(MovementListOutput)
