"""CSRF tokens for cookie-authenticated requests: one random token per session, sent back as a header or field."""

from __future__ import annotations

import secrets

from starlette.requests import Request

HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def matches(request: Request, sent: str | None) -> bool:
    """True when `sent` is this session's token (compared in constant time)."""
    expected = request.session.get("csrf")
    return isinstance(expected, str) and bool(sent) and secrets.compare_digest(expected, sent or "")
