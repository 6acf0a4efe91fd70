import json

import psycopg
import pytest
from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import DatabaseError, OperationalError
from django.test import RequestFactory

from core import exceptions
from core.exception_handler import exception_handler
from core.views import bad_request, server_error

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_a_json_404(customer):
    response = customer.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_malformed_json_is_a_400(anon):
    response = anon.post("/api/v1/auth/login/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_wrong_content_type_is_a_415(anon):
    response = anon.post("/api/v1/auth/login/", data="username=a", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_huge_body_is_a_413(anon, settings):
    body = '{"username": "' + "x" * 2_000_000 + '"}'
    response = anon.post("/api/v1/auth/login/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_field_errors_are_listed(anon):
    response = anon.post("/api/v1/auth/login/", {"username": "a"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "Invalid input.",
        "errors": {"password": ["This field is required."]},
    }


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (exceptions.DomainError(), 400),
        (exceptions.InvalidInput("bad"), 400),
        (exceptions.NotFound(), 404),
        (exceptions.Conflict("busy"), 409),
        (exceptions.IdempotencyKeyInUse(), 409),
        (exceptions.IdempotencyKeyReused(), 422),
        (OperationalError("gone"), 503),
    ],
)
def test_each_error_maps_to_one_status_and_code(error, status):
    response = exception_handler(error, {})
    assert response.status_code == status
    assert set(response.data) >= {"code", "detail"}


def driver_error(error: psycopg.Error) -> OperationalError:
    """A driver error as Django raises it: wrapped, with the original as the cause."""
    wrapped = OperationalError(str(error))
    wrapped.__cause__ = error
    return wrapped


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (driver_error(psycopg.errors.LockNotAvailable("lock timeout")), "busy"),
        (driver_error(psycopg.errors.QueryCanceled("statement timeout")), "busy"),
        (driver_error(psycopg.OperationalError("connection refused")), "database_unavailable"),
        (OperationalError("gone"), "database_unavailable"),
    ],
)
def test_database_errors_are_503_busy_or_unavailable_with_retry_after(error, code):
    response = exception_handler(error, {})
    assert response.status_code == 503
    assert response.data["code"] == code
    assert int(response["Retry-After"]) > 0


def test_idempotency_key_in_use_says_when_to_retry():
    response = exception_handler(exceptions.IdempotencyKeyInUse(), {})
    assert response.status_code == 409
    assert int(response["Retry-After"]) > 0


def test_domain_error_data_is_part_of_the_body():
    error = exceptions.Conflict("short", lines=[{"product": 1}])
    assert exception_handler(error, {}).data == {
        "code": "conflict",
        "detail": "short",
        "lines": [{"product": 1}],
    }


def raised_while_handling(error: Exception, source: Exception) -> Exception:
    """``error`` raised while ``source`` was being handled (its __context__), as Django
    re-raises a session save's database error as SessionInterrupted."""
    try:
        try:
            raise source
        except Exception:
            raise error  # noqa: B904 (the implicit chaining is the point)
    except Exception as caught:
        return caught


def answer(view, *args) -> tuple[int, str]:
    response = view(RequestFactory().get("/console/"), *args)
    return response.status_code, json.loads(response.content)["code"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (driver_error(psycopg.OperationalError("server closed the connection")), 503),
        (raised_while_handling(ValueError("bug"), OperationalError("gone")), 503),
        (ValueError("bug"), 500),
        (DatabaseError("a bug in a statement"), 500),
    ],
)
def test_an_error_outside_views_is_a_503_when_the_database_is_unavailable(error, expected):
    # Django calls its 500 view while the exception is being handled (no view saw it:
    # a middleware after the view raised it).
    try:
        raise error
    except BaseException:
        status, code = answer(server_error)
    assert (status, code) == (expected, {503: "database_unavailable", 500: "server_error"}[status])


def test_a_session_save_that_lost_its_connection_is_a_503_not_a_400():
    lost = raised_while_handling(SessionInterrupted("?"), OperationalError("connection lost"))
    assert answer(bad_request, lost) == (503, "database_unavailable")
    # A session really deleted meanwhile (the forced update changed no row) stays a 400.
    deleted = raised_while_handling(SessionInterrupted("?"), DatabaseError("no row updated"))
    assert answer(bad_request, deleted) == (400, "bad_request")
