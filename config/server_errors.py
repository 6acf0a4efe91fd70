"""JSON for the errors gunicorn answers itself.

gunicorn refuses some requests before Django sees them (a request line over 4094
bytes: 414; headers too many or too large: 431; a malformed request line or header:
400) and answers them with an HTML page. Every error of the service is JSON
``{"code", "detail"}``, so ``install()`` (called by config.wsgi, in each gunicorn
process) makes gunicorn write that instead.
"""

import json


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn.util.write_error's signature, with a JSON body."""
    from gunicorn import util

    code = "server_error" if status_int >= 500 else reason.lower().replace(" ", "_")
    detail = f"{reason}: {mesg}" if mesg else f"{reason}."
    body = json.dumps({"code": code, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    try:
        from gunicorn import util
    except ImportError:  # served by something else
        return
    util.write_error = write_json_error
