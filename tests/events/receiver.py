"""A webhook receiver: a real HTTP server on 127.0.0.1 in a thread that records each
request and answers with the statuses it is given (then 200), after ``delay`` seconds
(``started`` is set when a request has arrived, ``answered`` once it is answered)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses=(), delay: float = 0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.started = threading.Event()
        self.answered = threading.Event()
        self.requests: list[tuple[dict, bytes, int]] = []  # headers, body, status answered
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.started.set()
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.requests.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver.answered.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[tuple[dict, dict]]:
        """The requests answered 2xx: (headers, parsed body)."""
        return [(h, json.loads(b)) for h, b, status in self.requests if 200 <= status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
