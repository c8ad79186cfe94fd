"""BroadcastError tree: every error a service raises, each with the HTTP status the API answers."""

from __future__ import annotations

from typing import Any


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


class InvalidTransition(BroadcastError):
    """A campaign lifecycle step that is not allowed from the current state."""

    status_code = 409


class PermissionDenied(BroadcastError):
    status_code = 403


class AuthenticationRequired(BroadcastError):
    status_code = 401
