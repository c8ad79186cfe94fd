"""Who is calling: personal API token (Bearer) or the web session cookie; what each role may do."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from broadcast.accounts import csrf
from broadcast.accounts.models import Role, User
from broadcast.accounts.service import user_for_token
from broadcast.deps import SessionDep
from broadcast.exceptions import AuthenticationRequired, PermissionDenied

STAFF = frozenset(Role)
READERS = frozenset({Role.admin, Role.officer, Role.approver, Role.viewer})
EDITORS = frozenset({Role.admin, Role.officer})
REVIEWERS = frozenset({Role.admin, Role.approver})
ADMINS = frozenset({Role.admin})
RADIO = frozenset({Role.admin, Role.radio_operator})  # the loudspeaker programme and airing confirmations
# Roles that work with residents' phone numbers; everyone else sees them masked (091****678).
SEES_PHONES = frozenset({Role.admin, Role.officer})


# Declared for the OpenAPI document (and its clients); the checks below read the request themselves.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="PersonalToken",
                           description="A personal API token: `Authorization: Bearer bct_…`")
cookie_scheme = APIKeyCookie(name="broadcast_session", auto_error=False, scheme_name="WebSession",
                             description="The web pages' signed session cookie; writes also need `X-CSRF-Token`")


def current_user(
    request: Request, session: SessionDep,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
    _cookie: Annotated[str | None, Depends(cookie_scheme)] = None,
) -> User:
    """The authenticated user, or 401."""
    header = request.headers.get("Authorization", "")
    user: User | None = None
    if header.lower().startswith("bearer "):
        user = user_for_token(session, header[7:].strip())
        if user is None:
            raise AuthenticationRequired("Mã truy cập (token) không hợp lệ hoặc đã bị thu hồi")
    elif "session" in request.scope:
        uid = request.session.get("uid")
        user = session.get(User, uid) if isinstance(uid, int) else None
        if user is not None and not user.is_active:
            user = None
        # A browser sends the cookie with any site's form or fetch: a write must also prove it came from our
        # pages (the session's CSRF token in a header, which another site cannot read or set).
        if user is not None and request.method not in csrf.SAFE_METHODS \
                and not csrf.matches(request, request.headers.get(csrf.HEADER)):
            raise PermissionDenied(f"Thiếu mã chống giả mạo (CSRF): gửi tiêu đề {csrf.HEADER} của phiên đăng nhập, "
                                   "hoặc dùng mã truy cập (Bearer)")
    if user is None:
        raise AuthenticationRequired("Cần đăng nhập")
    # Authentication is its own unit of work (token last-used time): end it now, so the request does not
    # hold SQLite's write lock while the route opens transactions of its own (imports, renders).
    session.commit()
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def allow(read: Collection[str], write: Collection[str] | None = None) -> Callable[..., User]:
    """A dependency letting `read` roles use GET/HEAD and `write` roles (default: the same) the rest."""

    def check(request: Request, user: CurrentUser) -> User:
        roles = read if request.method in ("GET", "HEAD") else (write if write is not None else read)
        if user.role not in roles:
            raise PermissionDenied(f"Vai trò {user.role} không được phép thực hiện thao tác này")
        return user

    return check


def require(*roles: str) -> Callable[..., User]:
    """A dependency for a single route: only these roles, whatever the method."""
    return allow(roles, roles)


def sees_phones(user: User) -> bool:
    return user.role in SEES_PHONES
