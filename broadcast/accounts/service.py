"""Users, roles, communes a user is bound to, personal API tokens."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from broadcast.accounts.models import ApiToken, Role, User, UserCommune
from broadcast.accounts.security import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    new_token,
    password_problem,
    spend_like_a_verification,
    token_digest,
    verify_password,
)
from broadcast.audit import service as audit
from broadcast.communes.models import Commune
from broadcast.db import utcnow
from broadcast.exceptions import ConflictError, NotFoundError, ValidationFailed
from broadcast.phones import PhoneError, normalize_vn_phone


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    communes: Sequence[str] = (),
    full_name: str = "",
    phone: str | None = None,
    actor_id: int | None = None,
    actor: str = "system",
) -> User:
    """A new account; radio operators must be bound to at least one commune."""
    username = username.strip().lower()
    if not username:
        raise ValidationFailed("Tên đăng nhập trống", field="username")
    if role not in Role.__members__:
        raise ValidationFailed(f"Vai trò không hợp lệ: {role} (chọn {', '.join(Role)})", field="role")
    problem = password_problem(password, personal=[username, full_name, *full_name.split()])
    if problem:
        raise ValidationFailed(problem, field="password")
    if role == Role.radio_operator and not communes:
        raise ValidationFailed("Cán bộ đài truyền thanh cần gắn với ít nhất một xã/phường", field="communes")
    if session.exec(select(User.id).where(User.username == username)).first() is not None:
        raise ConflictError(f"Tên đăng nhập {username} đã có", field="username")
    for code in communes:
        if session.get(Commune, code) is None:
            raise ValidationFailed(f"Không có xã/phường mã {code}", field="communes")
    normalized_phone = None
    if phone:
        try:
            normalized_phone = normalize_vn_phone(phone)
        except PhoneError as exc:
            raise ValidationFailed(str(exc), field="phone") from None
    user = User(username=username, password_hash=hash_password(password), role=role, full_name=full_name,
                phone=normalized_phone)
    session.add(user)
    session.flush()
    assert user.id is not None
    for code in dict.fromkeys(communes):
        session.add(UserCommune(user_id=user.id, commune_code=code))
    session.flush()
    audit.record(session, action="user.create", entity="user", entity_id=user.id, actor_id=actor_id, actor=actor,
                 after=audit.snapshot(user, exclude={"password_hash"}))
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"Không tìm thấy tài khoản #{user_id}")
    return user


def by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username.strip().lower())).first()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, or None (same answer, and the same time, for an unknown user)."""
    user = by_username(session, username[:200])
    if user is None or not user.is_active or len(password) > MAX_PASSWORD_LENGTH:
        spend_like_a_verification(password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.add(user)
    return user


def user_communes(session: Session, user_id: int) -> list[str]:
    return list(session.exec(select(UserCommune.commune_code).where(UserCommune.user_id == user_id)).all())


def create_token(session: Session, user: User, *, name: str = "") -> str:
    """A new personal API token for `user`; only its digest is stored."""
    assert user.id is not None
    token = new_token()
    session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), name=name))
    session.flush()
    audit.record(session, action="token.create", entity="user", entity_id=user.id, actor_id=user.id,
                 actor=user.username, after={"name": name})
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.exec(
        select(ApiToken).where(ApiToken.token_hash == token_digest(token), col(ApiToken.revoked_at).is_(None))
    ).first()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:  # not a write per request
        row.last_used_at = now
        session.add(row)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))).all())


def communes_by_user(session: Session) -> dict[int, list[str]]:
    """The communes each user is bound to."""
    bound: dict[int, list[str]] = {}
    for uid, code in session.exec(select(UserCommune.user_id, UserCommune.commune_code)).all():
        bound.setdefault(uid, []).append(code)
    return bound


def users_by_id(session: Session, ids: Sequence[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.exec(select(User).where(col(User.id).in_(wanted))).all() if u.id is not None}


def signed_in(session: Session, uid: object) -> User | None:
    """The active user a web session names, or None."""
    user = session.get(User, uid) if isinstance(uid, int) else None
    return user if user is not None and user.is_active else None


def display_names(session: Session) -> dict[int, str]:
    """Every officer's name as pages show it (full name, else username)."""
    return {u.id: u.full_name or u.username for u in session.exec(select(User)).all() if u.id is not None}
