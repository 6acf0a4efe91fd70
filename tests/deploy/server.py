"""Start a real server process (the image's entrypoint, `make run`), wait until it
answers, and stop it with everything it started."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
# Generous: `make run` migrates, loads the demo data and collects static files first,
# on a machine that may be slow and shared.
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, *, timeout: float = 10, headers: dict | None = None):
    """(status, headers, body) of a GET, following redirects; HTTP errors are answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get_json(url: str) -> tuple[int, dict]:
    status, _, body = get(url, timeout=5)
    return status, json.loads(body or b"{}")


@contextmanager
def running(command: list[str], *, env: dict[str, str], log_path: Path, ready_url: str):
    """Run ``command`` in its own process group until the block ends; first wait until
    ``ready_url`` answers 200. The combined output is in ``log_path``."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        ready = None
        while time.monotonic() < deadline:
            assert process.poll() is None, (
                f"{command} exited with {process.returncode}:\n{log_path.read_text()}"
            )
            try:
                ready = get_json(ready_url)
            except (OSError, ValueError):  # not listening yet, or mid start-up
                ready = None
            if ready and ready[0] == 200:
                break
            time.sleep(0.25)
        assert ready is not None and ready[0] == 200, (
            f"{ready_url} did not answer 200 within {START_TIMEOUT}s (last: {ready}):\n"
            f"{log_path.read_text()}"
        )
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group (make, gunicorn and its workers), SIGKILL if it
    does not end."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
