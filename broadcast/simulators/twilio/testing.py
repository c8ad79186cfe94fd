"""Test helpers: simulator credentials and a loopback sink that records the callbacks it receives."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SIM_ACCOUNT_SID = "AC" + "5" * 32
SIM_AUTH_TOKEN = "simulator-auth-token-0123456789ab"


@dataclass(frozen=True)
class ReceivedCallback:
    """One HTTP request the sink received."""

    method: str
    url: str
    path: str
    params: dict[str, str]
    multi: list[tuple[str, str]]
    headers: dict[str, str]
    received_at: float  # time.monotonic() on arrival

    @property
    def signature(self) -> str:
        """The X-Twilio-Signature header ('' when absent)."""
        return self.headers.get("x-twilio-signature", "")


class CallbackSink:
    """Records POSTs; `url` is the base address, e.g. http://127.0.0.1:PORT."""

    def __init__(self, status_code: int = 200) -> None:
        self.status_code = status_code
        self._lock = threading.Lock()
        self._received: list[ReceivedCallback] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    @property
    def received(self) -> list[ReceivedCallback]:
        """Snapshot of received callbacks in arrival order."""
        with self._lock:
            return list(self._received)

    def url_for(self, path: str = "/status") -> str:
        """Absolute callback URL on this sink."""
        return self.url + path

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self._received.clear()

    def wait_for(self, predicate: Callable[[list[ReceivedCallback]], bool], timeout: float = 5.0) -> bool:
        """Poll until `predicate(received)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self.received):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def wait_for_count(self, count: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        """Wait until at least `count` callbacks arrived and return them; raises on timeout."""
        if not self.wait_for(lambda got: len(got) >= count, timeout):
            raise TimeoutError(f"expected {count} callbacks, got {len(self.received)}")
        return self.received

    def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                multi = parse_qsl(raw, keep_blank_values=True)
                host = self.headers.get("Host", "")
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = ReceivedCallback("POST", f"http://{host}{self.path}", self.path, dict(multi), multi,
                                          headers, time.monotonic())
                with sink._lock:
                    sink._received.append(record)
                self.send_response(sink.status_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="callback-sink", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextlib.contextmanager
def callback_sink(status_code: int = 200) -> Iterator[CallbackSink]:
    """A running CallbackSink for the duration of the block."""
    sink = CallbackSink(status_code)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
