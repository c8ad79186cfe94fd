"""Accounts over the API: who am I, users (admin), personal tokens, the audit log (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import annotated_types as at
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from broadcast.accounts import service
from broadcast.accounts.deps import ADMINS, CurrentUser, allow
from broadcast.accounts.models import Role, User
from broadcast.accounts.security import MAX_PASSWORD_LENGTH
from broadcast.audit import service as audit
from broadcast.audit.models import AuditLog
from broadcast.bounds import MAX_LIST, CommuneCode, Offset, PhoneInput, Word
from broadcast.deps import SessionDep
from broadcast.listing import Page, page

router = APIRouter(tags=["accounts"])


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    phone: str | None
    is_active: bool
    communes: list[str] = []
    last_login_at: datetime | None


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=60)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    role: Role
    full_name: str = Field(default="", max_length=120)
    phone: PhoneInput | None = None
    communes: Annotated[list[CommuneCode], at.MaxLen(MAX_LIST)] = []


class TokenIn(BaseModel):
    name: str = Field(default="", max_length=60)


class TokenOut(BaseModel):
    token: str


def _out(session: SessionDep, user: User) -> UserOut:
    assert user.id is not None
    return UserOut(**user.model_dump(exclude={"password_hash"}), communes=service.user_communes(session, user.id))


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser, session: SessionDep) -> UserOut:
    return _out(session, user)


@router.post("/me/tokens", status_code=201, summary="Create a personal API token (shown once)",
             response_model=TokenOut)
def create_token(data: TokenIn, user: CurrentUser, session: SessionDep) -> TokenOut:
    return TokenOut(token=service.create_token(session, user, name=data.name))


@router.get("/users", dependencies=[Depends(allow(ADMINS))], response_model=Page[UserOut])
def list_users(session: SessionDep) -> Page[UserOut]:
    items = [_out(session, u) for u in service.list_users(session)]
    return page(items, len(items), 0, len(items))


@router.post("/users", status_code=201, response_model=UserOut)
def create_user(data: UserIn, session: SessionDep, admin: User = Depends(allow(ADMINS))) -> UserOut:
    user = service.create_user(session, username=data.username, password=data.password, role=data.role,
                               communes=data.communes, full_name=data.full_name, phone=data.phone,
                               actor_id=admin.id, actor=admin.username)
    return _out(session, user)


@router.get("/audit", dependencies=[Depends(allow(ADMINS))], summary="The audit log, newest first",
            response_model=Page[AuditLog])
def audit_log(
    session: SessionDep,
    entity: Word | None = None,
    entity_id: Word | None = None,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
) -> Page[AuditLog]:
    rows, total = audit.entries(session, entity=entity, entity_id=entity_id, offset=offset, limit=limit)
    return page(rows, total, offset, limit)
