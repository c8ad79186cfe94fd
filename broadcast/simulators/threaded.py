"""An ASGI app served by uvicorn in a background thread on a socket bound here (port 0: a free one)."""

from __future__ import annotations

import asyncio
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

    def refuse(self, seconds: float) -> None:
        """Refuse connections for `seconds` (a provider's outage), then listen again on the same port.

        The listening socket is closed, so connecting fails at once with "connection refused", and open
        connections are cut; the app (its state, its background tasks) keeps running. Returns at once.
        """
        loop = self.server.servers[0].get_loop()
        loop.call_soon_threadsafe(loop.call_later, 0.1, self._close, seconds)

    def _close(self, seconds: float) -> None:
        for server in self.server.servers:
            server.close()
        for connection in list(self.server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, lambda: loop.create_task(self._listen()))

    async def _listen(self) -> None:
        server, config = self.server, self.server.config
        sock = _bind(config.host, self.port, config.backlog)

        def protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            # what uvicorn's own startup builds for each connection
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server.server_state, app_state=server.lifespan.state, _loop=_loop)
            return made

        listening = await asyncio.get_running_loop().create_server(protocol, sock=sock, backlog=config.backlog)
        server.servers = [listening]


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def serve_in_thread(app: Any, host: str, port: int, *, name: str, backlog: int = 256,
                    lifespan: Literal["on", "off"] = "off", graceful_seconds: int = 1,
                    timeout: float = 10.0, **options: Any) -> ThreadedServer:
    """Bind, start serving and return once uvicorn reports it started (RuntimeError if it does not).

    `options` go to uvicorn.Config as they are (e.g. proxy_headers).
    """
    sock = _bind(host, port, backlog)
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
