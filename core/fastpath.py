"""A lean front for the hottest write endpoints (placing an order, a restock, a receipt).

Django REST framework's per-request work (wrapping the request, negotiating, parsing
through a stream, building a serializer's fields by deep copy, finalizing the
response) cost more server CPU than the posting itself. For the common well-formed
request, the front does only what that request needs: authenticate with the same
token check, check the role, parse the JSON, check the input against a strict subset of
what the endpoint's serializer accepts, call the same service and render the same
output. Anything else (no or another credential, another role, another content type,
an ``Accept`` other than JSON, a query string, an ``If-Match`` header, a field it does
not check, a value outside the subset) goes to the full DRF view untouched, before
anything is written. So every answer is the one the DRF view would give, byte for byte:
tests/core/test_fastpath.py sends the same requests down both ways and compares them.
An ``Idempotency-Key`` is honoured by the same code as in DRF (core.idempotency).

An endpoint may also give a handler that writes with one statement which checks the
token itself (``handle_checked``): a request without an Idempotency-Key is then one
round trip. Where that statement writes nothing (no such caller, or not one allowed to
write, or nothing to write to), the request goes on the usual way, from the token
check on, and is answered as above.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from core.exception_handler import exception_handler
from core.idempotency import fingerprint, run_once

# The request bodies the front parses itself; other encodings go to DRF's parser.
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})
# Accept values DRF's negotiation answers with JSON; others (and their 406s) go to DRF.
_ACCEPT_JSON = frozenset({None, "", "*/*", "application/json"})
_HEADERS_FOR_DRF = ("HTTP_IF_MATCH",)
_PREFIX = b"token"


# The Django request's attribute holding (user, token) once the front has checked the
# credentials, or the AuthenticationFailed they got: the DRF view it hands the request
# to takes them from there instead of checking them again
# (accounts.authentication.TokenAuthentication).
AUTHENTICATED = "fastpath_authenticated"


class NotForFastPath(Exception):
    """The request is outside what the front serves: DRF's view answers it."""


def _strict_constant(name: str):
    raise NotForFastPath(name)  # NaN and Infinity: DRF's parser refuses them


@dataclass(frozen=True)
class FastWrite:
    """A POST endpoint served by ``handle`` when the request is plain, else by
    ``drf_view`` (the endpoint's APIView.as_view()).

    ``allowed(user)`` is the endpoint's permission for POST; ``handle(user, data,
    **url_kwargs)`` gets the parsed JSON body, raises NotForFastPath for anything its
    checks do not cover (before it writes anything) and returns (body, status,
    extra headers). ``allow`` is the view's ``Allow`` header. ``handle_checked(check,
    data, **url_kwargs)``, if given, is ``handle`` for a token not yet checked
    (accounts.authentication.TokenCheck), which its statement checks, with the same
    permission: it returns None, having written nothing, where that finds no caller
    allowed to write or nothing to write to."""

    drf_view: Callable
    allowed: Callable
    handle: Callable
    allow: str
    handle_checked: Callable | None = None

    def as_view(self) -> Callable:
        renderer = JSONRenderer()
        # The API's token check (the first authentication class), the one DRF runs.
        authenticator = api_settings.DEFAULT_AUTHENTICATION_CLASSES[0]()

        @csrf_exempt
        def view(request, **kwargs):
            meta = request.META
            if (
                request.method != "POST"
                or meta.get("CONTENT_TYPE", "").lower() not in _JSON_TYPES
                or meta.get("HTTP_ACCEPT") not in _ACCEPT_JSON
                or meta.get("QUERY_STRING")
                or any(name in meta for name in _HEADERS_FOR_DRF)
            ):
                return self.drf_view(request, **kwargs)
            credentials = meta.get("HTTP_AUTHORIZATION", "").encode("iso-8859-1").split()
            if len(credentials) != 2 or credentials[0].lower() != _PREFIX:
                return self.drf_view(request, **kwargs)
            try:
                result = self._serve(request, authenticator, credentials[1], kwargs)
                if isinstance(result, HttpResponse):  # an Idempotency-Key's replay
                    result["Allow"] = self.allow
                    return result
                body, status, headers = result
            except NotForFastPath:
                return self.drf_view(request, **kwargs)
            except Exception as exc:
                error = exception_handler(exc, {"request": request})
                if error is None:
                    raise
                body, status = error.data, error.status_code
                headers = {name: value for name, value in error.items() if name != "Content-Type"}
            response = HttpResponse(
                renderer.render(body), status=status, content_type="application/json"
            )
            for name, value in headers.items():
                response[name] = value
            response["Allow"] = self.allow
            return response

        # drf-spectacular (and anything else that inspects the URLs) sees the DRF view.
        view.cls, view.initkwargs = self.drf_view.cls, self.drf_view.initkwargs
        return view

    def _serve(self, request, authenticator, token: bytes, kwargs: dict) -> tuple:
        """Parse, authenticate, authorize and handle; NotForFastPath if any step is
        one the front leaves to DRF (whose answer it would then have to copy)."""
        try:
            data = json.loads(request.body.decode(), parse_constant=_strict_constant)
        except (ValueError, RecursionError, RequestDataTooBig) as exc:
            raise NotForFastPath("body") from exc
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None and self.handle_checked is not None:
            check = authenticator.token_check(token)
            if check is not None:
                result = self.handle_checked(check, data, **kwargs)
                if result is not None:
                    return result
        try:
            user, auth = authenticator.authenticate_credentials(token)
        except AuthenticationFailed as exc:
            # Checked once: an expired token is deleted by its check, so DRF's own
            # check would call it unknown instead of expired.
            setattr(request, AUTHENTICATED, exc)
            raise NotForFastPath("credentials") from exc
        setattr(request, AUTHENTICATED, (user, auth))
        if not self.allowed(user):
            raise NotForFastPath("permission")
        request.user = user
        if key is None:
            return self.handle(user, data, **kwargs)
        return run_once(
            user=user,
            key=key,
            request_hash=lambda: fingerprint(request.method, request.path, data),
            run=lambda: self.handle(user, data, **kwargs),
            stored=lambda result: (result[1], result[0]),
        )


def plain_int(value, low: int, high: int) -> int:
    """``value`` if it is a JSON integer in [low, high]; else NotForFastPath (DRF's
    IntegerField also takes "5" and 5.0, and words its own errors)."""
    if type(value) is not int or not low <= value <= high:
        raise NotForFastPath(value)
    return value


def plain_text(value, max_length: int, *, allow_blank: bool = True) -> str:
    """``value`` if DRF's CharField would take it unchanged: a string of at most
    ``max_length`` characters (not empty unless ``allow_blank``), with no surrounding
    whitespace (which DRF trims), no NUL and no surrogate (which it refuses); else
    NotForFastPath."""
    if (
        type(value) is not str
        or len(value) > max_length
        or not (value or allow_blank)
        or value != value.strip()
        or "\x00" in value
        or any("\ud800" <= char <= "\udfff" for char in value)
    ):
        raise NotForFastPath(value)
    return value


def only_keys(data, required: frozenset, optional: frozenset = frozenset()) -> dict:
    """``data`` if it is an object with all of ``required`` and nothing but ``optional``
    besides; else NotForFastPath."""
    if type(data) is not dict or not required <= data.keys() <= required | optional:
        raise NotForFastPath(data)
    return data
