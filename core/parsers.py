from urllib.parse import parse_qsl

from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with deeply nested input refused as a 400: Python's decoder
    gives up with RecursionError, which DRF does not catch (a 2 KB body would be a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc


class FormParser(parsers.FormParser):
    """DRF's form parser, taking up to the view's ``max_form_fields`` fields instead of
    Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000): the original API's form-encoded
    orders send one field per unit. The body size stays capped (MAX_REQUEST_BODY_BYTES).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        view = parser_context.get("view")
        max_fields = getattr(view, "max_form_fields", settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
        body = stream.read()
        try:
            text = body.decode(parser_context.get("encoding", settings.DEFAULT_CHARSET))
        except UnicodeDecodeError as exc:
            raise ParseError("Form data is not valid text.") from exc
        data = QueryDict(mutable=True)
        try:
            for key, value in parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields):
                data.appendlist(key, value)
        except ValueError as exc:
            raise ParseError(f"More than {max_fields} form fields.") from exc
        return data
