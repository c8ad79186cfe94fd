"""An ASGI app served by uvicorn in a background thread on a socket bound here (port 0: a free one)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn


@dataclass
class ThreadedServer:
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=timeout)


def serve_in_thread(app: Any, host: str, port: int, *, name: str, backlog: int = 256,
                    lifespan: Literal["on", "off"] = "off", graceful_seconds: int = 1,
                    timeout: float = 10.0, **options: Any) -> ThreadedServer:
    """Bind, start serving and return once uvicorn reports it started (RuntimeError if it does not).

    `options` go to uvicorn.Config as they are (e.g. proxy_headers).
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           lifespan=lifespan, timeout_graceful_shutdown=graceful_seconds,
                                           backlog=backlog, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"{name}:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:  # uvicorn offers no event to wait on; its start-up takes milliseconds
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.005)
    return ThreadedServer(server, thread, port)
