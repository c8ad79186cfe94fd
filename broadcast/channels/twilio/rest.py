"""What Twilio's SMS and voice channels share: an SDK client per thread, and Twilio's errors as SendErrors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from broadcast.channels.core.contract import Channel, PermanentSendError, TransientSendError, UnknownOutcome
from broadcast.channels.twilio.client import make_twilio_client, retry_after_seconds
from broadcast.config import Settings


def never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the request cannot have reached the provider (so it is safe to retry without reconciling)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class TwilioRestChannel(Channel):
    """Base of the Twilio channels; `resource` is the SDK attribute they use (messages, calls)."""

    resource = ""
    permanent_codes: frozenset[int] = frozenset()
    gates_requests = True  # the HTTP connections pass the budget's gate (client.py)

    def __init__(self, settings: Settings, *, api_base_url: str | None = None) -> None:
        self._settings = settings
        self._base_url = settings.twilio_api_base_url if api_base_url is None else api_base_url
        self._local = threading.local()  # requests sessions are not shared between threads

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = make_twilio_client(self._settings.twilio_account_sid,
                                        self._settings.twilio_auth_token.get_secret_value(), self._base_url,
                                        timeout=self._settings.twilio_timeout_seconds)
            self._local.client = client
        return client

    def warm_up(self) -> None:
        """Build this thread's SDK client now, so the first send does not pay for it after its rate slot."""
        getattr(self._client(), self.resource)  # the SDK builds its API tree lazily on first use

    @contextmanager
    def provider_errors(self) -> Iterator[Client]:
        """Run one provider call, turning Twilio's and the network's failures into SendErrors."""
        client = self._client()
        try:
            yield client
        except TwilioRestException as exc:
            code = int(exc.code) if exc.code else None
            text = f"HTTP {exc.status}: {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(text, code=code or exc.status,
                                         retry_after=retry_after_seconds(client)) from exc
            if code in self.permanent_codes or 400 <= exc.status < 500:
                raise PermanentSendError(text, code=code) from exc
            raise TransientSendError(text, code=code) from exc
        except requests.exceptions.ConnectionError as exc:
            if never_connected(exc):
                raise TransientSendError(f"connection failed: {exc.__class__.__name__}", unreachable=True) from exc
            raise UnknownOutcome(f"connection lost mid-request: {exc.__class__.__name__}") from exc
        except requests.exceptions.Timeout as exc:
            raise UnknownOutcome(f"no answer within {self._settings.twilio_timeout_seconds:g} s") from exc
        except requests.exceptions.RequestException as exc:
            raise UnknownOutcome(f"request error: {exc.__class__.__name__}") from exc
