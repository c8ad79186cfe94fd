"""Webhook authenticity: X-Twilio-Signature checked against PUBLIC_BASE_URL, as Twilio signs it."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from twilio.request_validator import RequestValidator

from broadcast.config import Settings
from broadcast.exceptions import PermissionDenied


def public_url(request: Request, settings: Settings) -> str:
    """The address Twilio called: PUBLIC_BASE_URL plus the path and query we received."""
    query = request.url.query
    return f"{settings.public_base_url}{request.url.path}" + (f"?{query}" if query else "")


def verify_twilio(request: Request, settings: Settings, params: Mapping[str, str]) -> None:
    """Raise PermissionDenied (403) unless the request carries Twilio's valid signature."""
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(public_url(request, settings), dict(params), signature):
        raise PermissionDenied("Invalid or missing X-Twilio-Signature")
