"""Conditional stock writes: a balance read at one location carries an ``ETag`` (its
version: the number of the last movement there); a write sent with that value in
``If-Match`` posts only if the balance is still at that version, else 412
``version_mismatch`` with the current version and figures (ledger.posting)."""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.response import Response

from ledger.exceptions import InvalidIfMatch

IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        'The ETag of the balance read at this product and location (e.g. `"42"`): the '
        "write happens only if the stock has not changed since, else 412 "
        "`version_mismatch` with the current figures. `*` or no header: unconditional."
    ),
)

_STRONG_TAG = re.compile(r'\s*"([0-9]{1,18})"\s*')


def expected_version(request) -> int | None:
    """The version ``If-Match`` asks for, None for no header or ``*``. Raises
    InvalidIfMatch for anything else: a weak tag (``W/``) never matches a write (RFC
    9110 compares If-Match strongly), and a list would leave the version ambiguous."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = _STRONG_TAG.fullmatch(raw)
    if match is None:
        raise InvalidIfMatch()
    return int(match.group(1))


def etag(version: int) -> str:
    return f'"{version}"'


def with_etag(response: Response, version: int) -> Response:
    response["ETag"] = etag(version)
    return response
