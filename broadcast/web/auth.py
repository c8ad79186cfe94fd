"""Login (with per-username+address rate limiting), logout, the language switch."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from broadcast.accounts import audit
from broadcast.accounts.models import Role
from broadcast.accounts.service import authenticate
from broadcast.deps import SessionDep
from broadcast.web import i18n
from broadcast.web.core import csrf_protect, redirect, render, safe_next, t

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


class LoginLimiter:
    """Failed logins per (username, client address) in a sliding window; a success clears the key.

    In-process memory: with several web workers each keeps its own count (the limit is per worker).
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window_seconds: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window, self.clock = max_failures, window_seconds, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until this key may try again (0: it may now)."""
        now = self.clock()
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, key: tuple[str, str]) -> None:
        now = self.clock()
        with self._lock:
            self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of usernames
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window}

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


def limiter(request: Request) -> LoginLimiter:
    found: LoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if found is None:
        found = request.app.state.login_limiter = LoginLimiter()
    return found


def home_for(role: str) -> str:
    return "/radio" if role == Role.radio_operator else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, username: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    key = (username.strip().lower(), request.client.host if request.client else "")
    limits = limiter(request)
    wait = limits.retry_after(key)
    context = {"next": safe_next(next), "username": username}
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return render(request, "login.html", {**context, "error": t(request, "login.locked", minutes=minutes)},
                      status_code=429)
    user = authenticate(session, username, password)
    if user is None:
        limits.failed(key)
        audit.record(session, action="login.failed", entity="user", actor=key[0][:60] or "?")
        return render(request, "login.html", {**context, "error": t(request, "login.failed")}, status_code=401)
    limits.succeeded(key)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
    request.session["uid"] = user.id
    if lang in i18n.LANGUAGES:
        request.session["lang"] = lang
    audit.record(session, action="login", entity="user", entity_id=user.id, actor_id=user.id, actor=user.username)
    target = safe_next(next)
    return redirect(home_for(user.role) if target == "/" else target)


@router.post("/logout")
def logout(request: Request) -> Response:
    lang = request.session.get("lang")
    request.session.clear()
    if lang in i18n.LANGUAGES:
        request.session["lang"] = lang
    return redirect("/login")


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str = "/") -> Response:
    if code in i18n.LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(safe_next(next), status_code=303)
