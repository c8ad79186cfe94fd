"""JSON routes for communes, residents and groups."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, StringConstraints

from broadcast.accounts.deps import ADMINS, CurrentUser, require, sees_phones
from broadcast.accounts.models import User
from broadcast.bounds import CommuneCode, DbId, Offset, SearchText, TagName
from broadcast.communes import service as communes
from broadcast.communes.models import Commune, CommunePublic, CommuneUpdate
from broadcast.contacts import service
from broadcast.contacts.models import (
    Contact,
    ContactCreate,
    ContactPublic,
    ContactUpdate,
    GroupCreate,
    GroupPublic,
    GroupUpdate,
)
from broadcast.deps import SessionDep, SettingsDep
from broadcast.listing import Page, page
from broadcast.phones import mask_phone

router = APIRouter(tags=["residents"])

Limit = Query(50, ge=1, le=500, description="Rows per page (at most 500)")


def _public(contact: Contact, groups: list[str], tags: list[str], user: User) -> ContactPublic:
    data = {**contact.model_dump(), "groups": groups, "tags": tags}
    if not sees_phones(user):  # personal data: only roles that work with numbers see them whole
        data["phone"] = mask_phone(contact.phone)
    return ContactPublic.model_validate(data)


@router.get("/communes", summary="List communes", response_model=Page[CommunePublic])
def list_communes(
    session: SessionDep,
    q: SearchText | None = Query(None, description="Part of the name"),
    province_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,2}$")] | None = None,
    offset: Offset = 0,
    limit: int = Query(100, ge=1, le=500),
) -> Page[CommunePublic]:
    rows = communes.list_communes(session, province_code, q=q, offset=offset, limit=limit)
    total = communes.count_communes(session, province_code, q=q)
    return page([CommunePublic.model_validate(c.model_dump()) for c in rows], total, offset, limit)


@router.get("/communes/{code}", response_model=CommunePublic)
def get_commune(code: CommuneCode, session: SessionDep) -> Commune:
    return communes.get_commune(session, code)


class LoadedOut(BaseModel):
    province: str
    created: int
    updated: int
    total: int


@router.post("/communes/load", summary="Load the communes and wards of PROVINCE_CODE (as `broadcast communes load`)",
             response_model=LoadedOut)
def load_communes(session: SessionDep, settings: SettingsDep, user: User = Depends(require(*ADMINS))) -> LoadedOut:
    result = communes.load_province(session, settings.province_code, actor_id=user.id, actor=user.username)
    return LoadedOut(province=settings.province_code, created=result.created, updated=result.updated,
                     total=result.total)


@router.patch("/communes/{code}", response_model=CommunePublic)
def update_commune(code: CommuneCode, data: CommuneUpdate, session: SessionDep, user: CurrentUser) -> Commune:
    return communes.update_commune(session, code, data, actor_id=user.id, actor=user.username)


@router.get("/contacts", summary="List residents with filters and pagination", response_model=Page[ContactPublic])
def list_contacts(
    session: SessionDep,
    user: CurrentUser,
    q: SearchText | None = Query(None, description="Name or part of the phone number"),
    commune_code: CommuneCode | None = None,
    group_id: DbId | None = None,
    tag: TagName | None = None,
    language: str | None = Query(None, pattern="^(vi|km)$"),
    opted_out: bool | None = None,
    offset: Offset = 0,
    limit: int = Limit,
) -> Page[ContactPublic]:
    filters = service.ContactFilter(q=q, commune_code=commune_code, group_id=group_id, tag=tag,
                                    language=language, opted_out=opted_out)
    rows, total = service.list_contacts(session, filters, offset=offset, limit=limit)
    extra = service.memberships(session, [c.id for c in rows if c.id is not None])
    items = [_public(c, *extra[c.id], user) for c in rows if c.id is not None]
    return page(items, total, offset, limit)


@router.post("/contacts", status_code=201, response_model=ContactPublic)
def create_contact(data: ContactCreate, session: SessionDep, user: CurrentUser) -> ContactPublic:
    contact = service.create_contact(session, data, actor_id=user.id, actor=user.username)
    assert contact.id is not None
    return _public(contact, *service.memberships(session, [contact.id])[contact.id], user)


@router.get("/contacts/{contact_id}", response_model=ContactPublic)
def get_contact(contact_id: DbId, session: SessionDep, user: CurrentUser) -> ContactPublic:
    contact = service.get_contact(session, contact_id)
    return _public(contact, *service.memberships(session, [contact_id])[contact_id], user)


@router.patch("/contacts/{contact_id}", response_model=ContactPublic)
def update_contact(contact_id: DbId, data: ContactUpdate, session: SessionDep, user: CurrentUser) -> ContactPublic:
    contact = service.update_contact(session, contact_id, data, actor_id=user.id, actor=user.username)
    return _public(contact, *service.memberships(session, [contact_id])[contact_id], user)


@router.delete("/contacts/{contact_id}", status_code=204)
def delete_contact(contact_id: DbId, session: SessionDep, user: CurrentUser) -> Response:
    service.delete_contact(session, contact_id, actor_id=user.id, actor=user.username)
    return Response(status_code=204)


@router.get("/groups", response_model=Page[GroupPublic])
def list_groups(session: SessionDep) -> Page[GroupPublic]:
    rows = service.list_groups(session)
    items = [GroupPublic(id=g.id or 0, name=g.name, description=g.description, member_count=n) for g, n in rows]
    return page(items, len(items), 0, len(items))


@router.post("/groups", status_code=201, response_model=GroupPublic)
def create_group(data: GroupCreate, session: SessionDep, user: CurrentUser) -> GroupPublic:
    group = service.create_group(session, data, actor_id=user.id, actor=user.username)
    return GroupPublic(id=group.id or 0, name=group.name, description=group.description)


@router.get("/groups/{group_id}", response_model=GroupPublic)
def get_group(group_id: DbId, session: SessionDep) -> GroupPublic:
    group = service.get_group(session, group_id)
    return GroupPublic(id=group_id, name=group.name, description=group.description,
                       member_count=service.group_size(session, group_id))


@router.patch("/groups/{group_id}", response_model=GroupPublic)
def update_group(group_id: DbId, data: GroupUpdate, session: SessionDep, user: CurrentUser) -> GroupPublic:
    group = service.update_group(session, group_id, data, actor_id=user.id, actor=user.username)
    return GroupPublic(id=group_id, name=group.name, description=group.description,
                       member_count=service.group_size(session, group_id))


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(group_id: DbId, session: SessionDep, user: CurrentUser) -> Response:
    service.delete_group(session, group_id, actor_id=user.id, actor=user.username)
    return Response(status_code=204)
