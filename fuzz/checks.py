"""Checks of our own for the schema fuzz run, loaded into schemathesis through
SCHEMATHESIS_HOOKS (fuzz/run.py)."""

import json
import sys

import schemathesis
from hypothesis.internal import lambda_sources

# Tooling workarounds, not about the API:
# - schemathesis's coverage phase nests generators deeply for a body such as an order of
#   100 lines; give it room beyond Python's default 1,000 frames;
# - hypothesis describes a lambda by parsing its module's source, and CPython 3.11's
#   parser can fail with "SystemError: AST constructor recursion depth mismatch" when
#   called that deep; the description only labels a strategy, so fall back to none.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
_lambda_description = lambda_sources.lambda_description


def _lambda_description_or_unknown(f):
    try:
        return _lambda_description(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources.lambda_description = _lambda_description_or_unknown


@schemathesis.check
def json_error_body(ctx, response, case):
    """Every error is JSON ``{"code", "detail", ...}``: never an HTML page or plain text."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        raise AssertionError(f"{response.status_code} answered with {content_type or 'no type'}")
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{response.status_code} with a body that is not JSON") from exc
    if not isinstance(body, dict) or not {"code", "detail"} <= body.keys():
        raise AssertionError(f"{response.status_code} without code and detail: {body!r:.200}")
    return None
