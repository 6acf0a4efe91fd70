"""Requests that gunicorn refuses before Django sees them get the API's JSON error body
too, not gunicorn's HTML page (found by the schema fuzz run: a long query string)."""

import json
import socket

import pytest
from django.db import connection

from config.database_url import database_url
from tests.live import Gunicorn


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    gunicorn = Gunicorn(url, workers=1, log=tmp_path_factory.mktemp("gunicorn") / "log")
    yield gunicorn
    gunicorn.stop()


def raw(server, request: bytes) -> tuple[int, bytes, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), head, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (
            b"GET /api/v1/products/?q=" + b"x" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            414,
            "uri_too_long",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (b"NOT A REQUEST LINE\r\n\r\n", 400, "bad_request"),
    ],
)
def test_gunicorn_refusals_are_json(server, request_bytes, status, code):
    answered, head, body = raw(server, request_bytes)
    assert answered == status
    assert b"Content-Type: application/json" in head
    error = json.loads(body)
    assert error["code"] == code
    assert error["detail"]
