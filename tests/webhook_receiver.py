"""A real HTTP receiver on loopback for the webhook tests: it records every request and
answers as a test tells it to (a status, or hanging until released)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from widget.clock import utcnow


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    #: the statuses to answer, one per request; 200 once they are used up
    statuses: list[int] = field(default_factory=list)
    #: while set, requests hang (until released) instead of being answered
    hanging: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    #: requests that arrived while hanging (and were not answered)
    hung: int = 0

    def ids(self) -> list[str]:
        return [request.headers["webhook-id"] for request in self.requests]


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.hanging:
                state.hung += 1
                state.released.wait(30)
                return
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.released.set()
    server.shutdown()
    server.server_close()


@dataclass
class StepClock:
    """Starts at the real time (receivers check ``webhook-timestamp`` within 5 minutes)."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
