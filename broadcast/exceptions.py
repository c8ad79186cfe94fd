"""BroadcastError tree: every error a service raises, each with the HTTP status the API answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class BroadcastError(Exception):
    """Base of the service's errors; `field` names the offending input where there is one."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class ConfigurationError(BroadcastError):
    status_code = 500


class NotFoundError(BroadcastError):
    status_code = 404


class ConflictError(BroadcastError):
    status_code = 409


class ValidationFailed(BroadcastError):
    status_code = 422


class ContentTooLarge(BroadcastError):
    """An upload over its size limit, refused before (or while) it is read."""

    status_code = 413


class ServiceBusy(BroadcastError):
    """Temporarily unable to take the request (e.g. every file-reader slot is in use): try again shortly."""

    status_code = 503


class DatabaseUnavailable(ServiceBusy):
    """The database does not answer (down, read-only, locked): nothing was changed; try again shortly."""


class InvalidTransition(BroadcastError):
    """A campaign lifecycle step that is not allowed from the current state."""

    status_code = 409


class PermissionDenied(BroadcastError):
    status_code = 403


class AuthenticationRequired(BroadcastError):
    status_code = 401


class ErrorOut(BaseModel):
    """The JSON body of every error answer."""

    error: str
    message: str
    field: str | None = None
    details: dict[str, Any] | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# What any route of the JSON API may answer besides success (declared once, for the OpenAPI document).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("The body cannot be read (not JSON, not multipart, not UTF-8)"),
    401: _error("Not signed in, or the token is unknown or revoked"),
    403: _error("The role (or commune) may not do this, or a cookie write came without its CSRF token"),
    404: _error("No such record"),
    409: _error("Not allowed in the record's current state, or a duplicate"),
    413: _error("The upload is larger than allowed"),
    422: _error("A field is invalid; `field` names it"),
}


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route that sends a file (CSV, XLSX, MP3, RSS) rather than JSON."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}

def text_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route that sends text other than JSON (TwiML for the provider)."""
    return {200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}}


# A webhook the provider only needs acknowledged: 200 with no body.
EMPTY_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"description": "Recorded (no body)"}}

# Provider webhooks: a missing or wrong signature is 403; a journaled or applied event is 200.
WEBHOOK_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body cannot be read"),
    403: _error("The provider's signature is missing, wrong or stale"),
    404: _error("No such gateway phone"),
    422: _error("A signed request whose fields cannot be read"),
}
