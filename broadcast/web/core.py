"""What every page shares: templates, the signed-in user and role checks, CSRF, flash messages, rendering."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlmodel import Session

from broadcast.accounts import csrf
from broadcast.accounts.deps import ADMINS, EDITORS, RADIO, READERS, REVIEWERS, STAFF, sees_phones
from broadcast.accounts.models import Role, User
from broadcast.accounts.service import signed_in
from broadcast.config import Settings
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError
from broadcast.phones import mask_phone
from broadcast.web import i18n

log = logging.getLogger(__name__)
T = TypeVar("T")
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "xml", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
CSRF_FIELD = csrf.FIELD
CSRF_HEADER = csrf.HEADER
SAFE_METHODS = csrf.SAFE_METHODS

# Page access by role: the same role sets as the JSON API (accounts/deps.py).
ALL = STAFF

# (path, catalogue key, roles that see the entry)
MENU: list[tuple[str, str, frozenset[Role]]] = [
    ("/", "nav.dashboard", READERS),
    ("/residents", "nav.residents", READERS),
    ("/campaigns", "nav.campaigns", READERS),
    ("/campaigns/new", "nav.compose", EDITORS),
    ("/approvals", "nav.approvals", REVIEWERS),
    ("/inbox", "nav.inbox", READERS),
    ("/radio", "nav.radio", RADIO),
    ("/admin/users", "nav.users", ADMINS),
    ("/admin/audit", "nav.audit", ADMINS),
    ("/admin/gateways", "nav.gateways", ADMINS),
]


class PageRoute(APIRoute):
    """A browser page or form. A BroadcastError from it (after the request's session rolled back) is shown as a
    page: a form goes back where it came from with the message flashed (see `page_error`); a page shows it."""

    error_template: ClassVar[str | None] = None  # a form shown again with the error instead of going back
    error_context: ClassVar[dict[str, Any]] = {}


def page_router(**kwargs: Any) -> APIRouter:
    """The router every page module uses: CSRF on unsafe methods, no OpenAPI entries, the page error path."""
    kwargs.setdefault("dependencies", [Depends(csrf_protect)])
    return APIRouter(route_class=kwargs.pop("route_class", PageRoute), include_in_schema=False, **kwargs)


def form_route(template: str, **context: Any) -> type[PageRoute]:
    """A PageRoute that shows `template` again with the error message (and the error's 4xx status)."""
    return type("FormRoute", (PageRoute,), {"error_template": template, "error_context": context})


def is_page(request: Request) -> bool:
    return isinstance(request.scope.get("route"), PageRoute)


def page_error(request: Request, exc: BroadcastError) -> Response:
    """The one error path of the pages: log, then show the message where the user can act on it."""
    log.info("%s %s: %s", request.method, request.url.path, exc.message)
    route = request.scope.get("route")
    if isinstance(route, PageRoute) and route.error_template:
        return render(request, route.error_template, {**route.error_context, "error": exc.message},
                      status_code=exc.status_code)
    if request.method in SAFE_METHODS:
        heading = "error.notfound.title" if exc.status_code == 404 else "error.problem.title"
        return render(request, "error.html", {"heading": t(request, heading), "message": exc.message},
                      status_code=exc.status_code)
    flash(request, exc.message, "error")
    return redirect(back_of(request))


def keep_input(session: Session, step: Callable[[], T]) -> T | str:
    """Run a form's step in a savepoint; when it is refused (a BroadcastError, or fields the API shapes reject),
    undo it and return the message, so the page can show the form again with what the user typed. The one place
    pages catch errors, and only for that: everything else goes to `page_error`."""
    try:
        with session.begin_nested():
            return step()
    except BroadcastError as exc:
        return exc.message
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"


def back_of(request: Request) -> str:
    """Where a form came from (the Referer, when it is one of our pages), else the home page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else "")) if referer.path else "/"


class LoginRequired(Exception):
    """Raised by page dependencies for anonymous visitors: they are sent to /login?next=…"""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    """The signed-in user's role may not open this page, or a form came without a valid CSRF token."""

    def __init__(self, reason_key: str = "error.forbidden") -> None:
        super().__init__(reason_key)
        self.reason_key = reason_key


class PageNotFound(Exception):
    """A page about a thing that does not exist."""


def language(request: Request) -> str:
    lang = request.session.get("lang") if "session" in request.scope else None
    return lang if lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def t(request: Request, key: str, **values: Any) -> str:
    """Translate `key` in the request's language."""
    return i18n.translate(language(request), key, **values)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def page_user(roles: Collection[str]) -> Callable[..., User]:
    """A dependency: the signed-in user (web session only) with one of `roles`, else login or 403."""

    def dependency(request: Request, session: SessionDep) -> User:
        user = signed_in(session, request.session.get("uid"))
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        # Detached, fully loaded: error pages render it after the request's session has rolled back and closed.
        session.expunge(user)
        # Signing in is its own unit of work, ended now (as for the API): under SQLite an open transaction
        # holds the write lock, and some pages then wait on the network (a gateway phone's health check).
        session.commit()
        request.state.user = user
        if user.role not in roles:
            raise PageForbidden()
        return user

    return dependency


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    return csrf.session_token(request)


async def csrf_protect(request: Request) -> None:
    """Router dependency: every unsafe request from pages must carry the session's token (form field or header)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    verify_csrf(request, sent)


def verify_csrf(request: Request, sent: str | None) -> None:
    """PageForbidden unless `sent` is this session's CSRF token (for routes that read their own body)."""
    if not csrf.matches(request, sent):
        raise PageForbidden("error.csrf")


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A message shown once on the next page (kind: ok, error, info)."""
    request.session.setdefault("flash", []).append([kind, text])
    request.session["flash"] = request.session["flash"]  # mark the session modified


def redirect(url: str) -> RedirectResponse:
    """After a POST: see the result with GET (303)."""
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None) -> str:
    """Only local paths are followed after login (no open redirect)."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return "/"


def login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url, safe='/')}", status_code=303)


def phone_for(user: User | None, phone: str | None) -> str:
    """A resident's number as this user may see it (masked unless the role works with numbers)."""
    if user is not None and sees_phones(user):
        return phone or "—"
    return mask_phone(phone) if phone else "—"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Render a page with what every template needs (user, menu, translations, formatting, flashes)."""
    lang = language(request)
    user: User | None = getattr(request.state, "user", None)
    settings = settings_of(request)
    zone = settings.zone
    flashes = request.session.pop("flash", []) if "session" in request.scope else []
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "lang": lang,
        "t": i18n.translator(lang),
        "csrf": csrf_token(request),
        "menu": [(href, key) for href, key, roles in MENU if user is not None and user.role in roles],
        "path": request.url.path,
        "flashes": flashes,
        "num": lambda v, d=0: i18n.fmt_number(v, lang, d),
        "pct": lambda part, whole: i18n.fmt_percent(part, whole, lang),
        "date": lambda m: i18n.fmt_date(m, zone),
        "dt": lambda m: i18n.fmt_datetime(m, zone),
        "phone": lambda p: phone_for(user, p),
        "timezone": settings.timezone,
        "simulator": settings.twilio_simulator,  # a banner on every page: no real SMS leaves
        "can": lambda roles: user is not None and user.role in roles,
        "EDITORS": EDITORS, "REVIEWERS": REVIEWERS, "ADMINS": ADMINS, "READERS": READERS, "RADIO": RADIO,
    }
    values.update(context or {})
    html = TEMPLATES.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"media-src 'self' {settings.public_base_url}; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response
