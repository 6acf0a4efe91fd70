"""Checks of our own for the schema fuzz run (loaded through SCHEMATHESIS_HOOKS)."""

import json

import schemathesis


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
