"""Fixtures for engagement tests: Twilio-signed incoming messages (the admin `client` is tests/conftest.py's)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from broadcast.config import Settings


def inbound_params(from_: str, body: str, sid: str | None = None) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {"ToCountry": "VN", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "FromCountry": "VN", "To": "+84900000000", "NumSegments": "1", "MessageSid": sid,
            "AccountSid": "AC00000000000000000000000000000000", "From": from_, "ApiVersion": "2010-04-01"}


def signature(settings: Settings, path: str, params: dict[str, str]) -> str:
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    return str(validator.compute_signature(f"{settings.public_base_url}{path}", params))


Send = Callable[..., httpx.Response]


@pytest.fixture
def send_sms(client: TestClient, settings: Settings) -> Send:
    """Post a signed incoming SMS to the webhook, as Twilio would."""

    def send(from_: str, body: str, sid: str | None = None) -> httpx.Response:
        params = inbound_params(from_, body, sid)
        return client.post("/webhooks/twilio/sms", data=params,
                           headers={"X-Twilio-Signature": signature(settings, "/webhooks/twilio/sms", params)})

    return send
