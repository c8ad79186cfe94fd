"""Build the twilio-python REST client, optionally pointed at another base URL (the simulator)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from broadcast.channels.core.budget import gate_written, pass_gate


class _Gated:
    """Mixed into urllib3's connections: the rate budget is taken right before a request's first byte is
    written, once the connection is made (a TLS handshake after the grant would make the request late)."""

    sock: Any
    _gate_open = True

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._gate_open = False
        super().request(*args, **kwargs)  # type: ignore[misc]

    def send(self, data: Any) -> None:
        if not self._gate_open:
            self._gate_open = True
            if self.sock is None:
                self.connect()  # type: ignore[attr-defined]
            pass_gate()
            try:
                if not self.is_connected:  # type: ignore[attr-defined]  # the server closed it while we waited
                    self.sock.close()
                    self.sock = None
                    self.connect()  # type: ignore[attr-defined]
                super().send(data)  # type: ignore[misc]
            finally:
                gate_written()
            return
        super().send(data)  # type: ignore[misc]


class GatedHTTPConnection(_Gated, HTTPConnection):
    pass


class GatedHTTPSConnection(_Gated, HTTPSConnection):
    pass


class GatedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GatedHTTPConnection


class GatedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GatedHTTPSConnection


class GatedAdapter(HTTPAdapter):
    """requests' adapter over the gated connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GatedHTTPConnectionPool,
                                                   "https": GatedHTTPSConnectionPool}


class BroadcastHttpClient(TwilioHttpClient):
    """TwilioHttpClient that can target another base URL and remembers each thread's last response."""

    def __init__(self, base_url: str = "", pool_maxsize: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self._local = threading.local()
        if self.session is not None:
            # requests keeps only 10 connections per host by default; dispatchers send from many threads.
            adapter = GatedAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)
            if self.base_url:
                self.session.trust_env = False  # never route a local simulator through an HTTP proxy

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Rewrite scheme and host when a base URL is set, send, and remember the response."""
        if self.base_url:
            parts = urlsplit(url)
            url = self.base_url + parts.path + (("?" + parts.query) if parts.query else "")
        self._local.response = None
        response = super().request(method, url, *args, **kwargs)
        self._local.response = response
        return response

    @property
    def thread_last_response(self) -> Response | None:
        """The last response received by the calling thread (the SDK's own attribute is shared)."""
        return getattr(self._local, "response", None)


def make_twilio_client(
    account_sid: str,
    auth_token: str,
    api_base_url: str = "",
    timeout: float = 15.0,
    *,
    pool_maxsize: int = 64,
) -> Client:
    """A Client for the real api.twilio.com (empty base URL) or for a compatible server at `api_base_url`."""
    http_client = BroadcastHttpClient(api_base_url, pool_maxsize=pool_maxsize, timeout=timeout)
    # environment={} keeps TWILIO_EDGE/TWILIO_REGION from rewriting the host (settings are the only source).
    return Client(account_sid, auth_token, http_client=http_client, environment={})


def retry_after_seconds(client: Client) -> float | None:
    """Retry-After (seconds) of the calling thread's last response, e.g. after a 429; None if absent."""
    http_client = client.http_client
    response = http_client.thread_last_response if isinstance(http_client, BroadcastHttpClient) else None
    if response is None or not response.headers:
        return None
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
