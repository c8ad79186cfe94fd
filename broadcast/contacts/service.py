"""Residents, groups and consent: plain functions over a Session (callers commit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.communes.models import Commune
from broadcast.contacts.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Contact,
    ContactCreate,
    ContactGroup,
    ContactTag,
    ContactUpdate,
    GroupCreate,
    GroupMember,
    GroupUpdate,
    Tag,
)
from broadcast.db import utcnow
from broadcast.exceptions import ConflictError, NotFoundError, ValidationFailed
from broadcast.phones import PhoneError, normalize_vn_phone

Named = TypeVar("Named", ContactGroup, Tag)


@dataclass
class ContactFilter:
    q: str | None = None
    commune_code: str | None = None
    group_id: int | None = None
    tag: str | None = None
    language: str | None = None
    opted_out: bool | None = None
    ids: Sequence[int] = field(default_factory=list)


def _phone(raw: str) -> str:
    try:
        return normalize_vn_phone(raw)
    except PhoneError as exc:
        raise ValidationFailed(str(exc), field="phone") from None


def _check_commune(session: Session, code: str | None) -> None:
    if code is not None and session.get(Commune, code) is None:
        raise ValidationFailed(f"Không có xã/phường mã {code}", field="commune_code")


def get_contact(session: Session, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.erased_at is not None:
        raise NotFoundError(f"Không tìm thấy người dân #{contact_id}")
    return contact


def find_contact(session: Session, contact_id: int | None) -> Contact | None:
    """The resident, or None when there is none (never was, or erased)."""
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    return contact if contact is not None and contact.erased_at is None else None


def find_by_phone(session: Session, raw_phone: str) -> Contact | None:
    try:
        phone = normalize_vn_phone(raw_phone)
    except PhoneError:
        return None
    return session.exec(select(Contact).where(Contact.phone == phone)).first()


COUNT_CAP = 10_000  # past this a search says "more than 10,000" instead of counting a million rows


def phone_prefix(q: str) -> tuple[str, str] | None:
    """Digits typed as a number's start ("0912 34", "84912") → the E.164 range they cover (the unique index)."""
    digits = "".join(ch for ch in q if ch.isascii() and ch.isdigit())
    if len(digits) < 3 or any(ch.isalpha() for ch in q):
        return None
    national = digits[2:] if digits.startswith("84") else digits.lstrip("0")
    low = "+84" + national
    return low, low[:-1] + chr(ord(low[-1]) + 1)


def list_contacts(
    session: Session, filters: ContactFilter, *, offset: int = 0, limit: int = 50, count_cap: int = COUNT_CAP
) -> tuple[list[Contact], int]:
    """A page of residents matching the filters, newest first, and how many match, counted up to `count_cap`
    + 1 (so a search over a million residents stays cheap: a total above the cap means "more than the cap").

    A number is found by its start on the indexed phone column; a name by any part of it.
    """
    conditions: list[Any] = [col(Contact.erased_at).is_(None)]
    if filters.q:
        span = phone_prefix(filters.q)
        if span is not None:
            conditions += [col(Contact.phone) >= span[0], col(Contact.phone) < span[1]]
        else:
            conditions.append(col(Contact.full_name).ilike(f"%{filters.q.strip()}%"))
    if filters.commune_code:
        conditions.append(col(Contact.commune_code) == filters.commune_code)
    if filters.language:
        conditions.append(col(Contact.language) == filters.language)
    if filters.opted_out is not None:
        conditions.append(col(Contact.sms_opted_out).is_(filters.opted_out))
    if filters.group_id is not None:
        conditions.append(col(Contact.id).in_(select(GroupMember.contact_id)
                                              .where(GroupMember.group_id == filters.group_id)))
    if filters.tag:
        conditions.append(col(Contact.id).in_(select(ContactTag.contact_id).join(Tag, col(Tag.id) == ContactTag.tag_id)
                                              .where(Tag.name == filters.tag)))
    capped = select(col(Contact.id)).where(*conditions).limit(count_cap + 1).subquery()
    total = int(session.exec(select(func.count()).select_from(capped)).one())
    rows = session.exec(select(Contact).where(*conditions).order_by(col(Contact.id).desc())
                        .offset(offset).limit(limit)).all()
    return list(rows), total


def memberships(session: Session, contact_ids: Sequence[int]) -> dict[int, tuple[list[str], list[str]]]:
    """Group and tag names for each contact, in two queries for the whole page."""
    result: dict[int, tuple[list[str], list[str]]] = {cid: ([], []) for cid in contact_ids}
    if not contact_ids:
        return result
    groups = session.exec(
        select(GroupMember.contact_id, ContactGroup.name)
        .join(ContactGroup, col(ContactGroup.id) == GroupMember.group_id)
        .where(col(GroupMember.contact_id).in_(contact_ids))
    ).all()
    for cid, name in groups:
        result[cid][0].append(name)
    tags = session.exec(
        select(ContactTag.contact_id, Tag.name)
        .join(Tag, col(Tag.id) == ContactTag.tag_id)
        .where(col(ContactTag.contact_id).in_(contact_ids))
    ).all()
    for cid, name in tags:
        result[cid][1].append(name)
    return result


def _ids_by_name(session: Session, model: type[Named], names: Sequence[str]) -> list[int]:
    """Ids of the groups or tags with these names, creating the missing ones."""
    ids = []
    for name in {n.strip() for n in names if n.strip()}:
        row = session.exec(select(model).where(model.name == name)).first()
        if row is None:
            row = model(name=name)
            session.add(row)
            session.flush()
        assert row.id is not None
        ids.append(row.id)
    return ids


def _set_memberships(
    session: Session, contact_id: int, groups: Sequence[str] | None, tags: Sequence[str] | None
) -> None:
    if groups is not None:
        session.execute(delete(GroupMember).where(col(GroupMember.contact_id) == contact_id))
        for gid in _ids_by_name(session, ContactGroup, groups):
            session.add(GroupMember(contact_id=contact_id, group_id=gid))
    if tags is not None:
        session.execute(delete(ContactTag).where(col(ContactTag.contact_id) == contact_id))
        for tid in _ids_by_name(session, Tag, [t.lower() for t in tags]):
            session.add(ContactTag(contact_id=contact_id, tag_id=tid))
    session.flush()


def create_contact(session: Session, data: ContactCreate, *, actor_id: int | None = None,
                   actor: str = "system") -> Contact:
    """Add one resident; the phone must be a Vietnamese mobile number not already registered."""
    phone = _phone(data.phone)
    _check_commune(session, data.commune_code)
    if session.exec(select(Contact.id).where(Contact.phone == phone)).first() is not None:
        raise ConflictError(f"Số điện thoại {phone} đã có trong danh sách", field="phone")
    now = utcnow()
    contact = Contact(
        phone=phone,
        full_name=data.full_name.strip(),
        commune_code=data.commune_code,
        address=data.address,
        language=data.language,
        note=data.note,
        consent_source=ConsentSource.api,
        consent_at=now,
    )
    session.add(contact)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"Số điện thoại {phone} đã có trong danh sách", field="phone") from None
    assert contact.id is not None
    session.add(ConsentEvent(contact_id=contact.id, channel="all", action=ConsentAction.opt_in,
                             source=ConsentSource.api, actor_id=actor_id, at=now))
    _set_memberships(session, contact.id, data.groups, data.tags)
    audit.record(session, action="contact.create", entity="contact", entity_id=contact.id,
                 actor_id=actor_id, actor=actor, after=audit.snapshot(contact))
    return contact


def update_contact(session: Session, contact_id: int, data: ContactUpdate, *, actor_id: int | None = None,
                   actor: str = "system") -> Contact:
    """Change a resident; opt-out changes go through set_opt_out so they are recorded as consent events."""
    contact = get_contact(session, contact_id)
    before = audit.snapshot(contact)
    changes = data.model_dump(exclude_unset=True)
    if "phone" in changes and changes["phone"] is not None:
        phone = _phone(changes.pop("phone"))
        clash = session.exec(select(Contact.id).where(Contact.phone == phone, Contact.id != contact_id)).first()
        if clash is not None:
            raise ConflictError(f"Số điện thoại {phone} đã có trong danh sách", field="phone")
        contact.phone = phone
    if "commune_code" in changes:
        _check_commune(session, changes["commune_code"])
    for channel in ("sms", "voice"):
        value = changes.pop(f"{channel}_opted_out", None)
        if value is not None:
            set_opt_out(session, contact, channel=channel, opted_out=value, source=ConsentSource.officer,
                        actor_id=actor_id)
    groups, tags = changes.pop("groups", None), changes.pop("tags", None)
    for key, value in changes.items():
        if value is not None:
            setattr(contact, key, value)
    contact.updated_at = utcnow()
    session.add(contact)
    assert contact.id is not None
    _set_memberships(session, contact.id, groups, tags)
    audit.record(session, action="contact.update", entity="contact", entity_id=contact.id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(contact))
    return contact


def delete_contact(session: Session, contact_id: int, *, actor_id: int | None = None,
                   actor: str = "system") -> None:
    contact = get_contact(session, contact_id)
    audit.record(session, action="contact.delete", entity="contact", entity_id=contact_id,
                 actor_id=actor_id, actor=actor, before=audit.snapshot(contact))
    session.delete(contact)
    session.flush()


def set_opt_out(
    session: Session,
    contact: Contact,
    *,
    channel: str,
    opted_out: bool,
    source: str,
    detail: str = "",
    actor_id: int | None = None,
) -> bool:
    """Record an opt-out or opt-in for `sms`, `voice` or `all`; returns False when nothing changed."""
    channels = ("sms", "voice") if channel == "all" else (channel,)
    changed = False
    for name in channels:
        attr = f"{name}_opted_out"
        if getattr(contact, attr) != opted_out:
            setattr(contact, attr, opted_out)
            changed = True
    if not changed:
        return False
    now = utcnow()
    if opted_out:
        contact.opted_out_at, contact.opt_out_source = now, source
    elif not (contact.sms_opted_out or contact.voice_opted_out):
        contact.opted_out_at, contact.opt_out_source = None, None
    contact.updated_at = now
    session.add(contact)
    assert contact.id is not None
    session.add(ConsentEvent(contact_id=contact.id, channel=channel,
                             action=ConsentAction.opt_out if opted_out else ConsentAction.opt_in,
                             source=source, detail=detail[:300], actor_id=actor_id, at=now))
    session.flush()
    return True


# ---- groups ------------------------------------------------------------------------------------


def group_choices(session: Session) -> list[ContactGroup]:
    """Every group by name, without counting members (a form's choices)."""
    return list(session.exec(select(ContactGroup).order_by(col(ContactGroup.name))).all())


def list_groups(session: Session) -> list[tuple[ContactGroup, int]]:
    counts = (
        select(GroupMember.group_id, func.count().label("n")).group_by(col(GroupMember.group_id)).subquery()
    )
    rows = session.exec(
        select(ContactGroup, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == ContactGroup.id)
        .order_by(col(ContactGroup.name))
    ).all()
    return [(group, int(n)) for group, n in rows]


def get_group(session: Session, group_id: int) -> ContactGroup:
    group = session.get(ContactGroup, group_id)
    if group is None:
        raise NotFoundError(f"Không tìm thấy nhóm #{group_id}")
    return group


def group_size(session: Session, group_id: int) -> int:
    return int(session.exec(select(func.count()).where(GroupMember.group_id == group_id)).one())


def create_group(session: Session, data: GroupCreate, *, actor_id: int | None = None, actor: str = "system"
                 ) -> ContactGroup:
    name = data.name.strip()
    if session.exec(select(ContactGroup.id).where(ContactGroup.name == name)).first() is not None:
        raise ConflictError(f"Nhóm “{name}” đã có", field="name")
    group = ContactGroup(name=name, description=data.description)
    session.add(group)
    session.flush()
    audit.record(session, action="group.create", entity="group", entity_id=group.id, actor_id=actor_id,
                 actor=actor,
                 after=audit.snapshot(group))
    return group


def update_group(session: Session, group_id: int, data: GroupUpdate, *, actor_id: int | None = None,
                 actor: str = "system") -> ContactGroup:
    group = get_group(session, group_id)
    before = audit.snapshot(group)
    if data.name is not None:
        name = data.name.strip()
        clash = session.exec(
            select(ContactGroup.id).where(ContactGroup.name == name, ContactGroup.id != group_id)
        ).first()
        if clash is not None:
            raise ConflictError(f"Nhóm “{name}” đã có", field="name")
        group.name = name
    if data.description is not None:
        group.description = data.description
    session.add(group)
    session.flush()
    audit.record(session, action="group.update", entity="group", entity_id=group_id, actor_id=actor_id,
                 actor=actor,
                 before=before, after=audit.snapshot(group))
    return group


def delete_group(session: Session, group_id: int, *, actor_id: int | None = None, actor: str = "system") -> None:
    group = get_group(session, group_id)
    audit.record(session, action="group.delete", entity="group", entity_id=group_id, actor_id=actor_id,
                 actor=actor,
                 before=audit.snapshot(group))
    session.delete(group)
    session.flush()


def group_names(session: Session, ids: Sequence[int]) -> list[str]:
    if not ids:
        return []
    return list(session.exec(select(ContactGroup.name).where(col(ContactGroup.id).in_(ids))).all())


def names_of(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    """Residents' names by id."""
    if not contact_ids:
        return {}
    return {i: n for i, n in session.exec(select(Contact.id, Contact.full_name)
                                          .where(col(Contact.id).in_(contact_ids))).all() if i is not None}


def resident_counts(session: Session) -> dict[str, int]:
    """Residents (not erased) and those who opted out of SMS."""
    alive = col(Contact.erased_at).is_(None)
    return {
        "residents": int(session.exec(select(func.count()).select_from(Contact).where(alive)).one()),
        "opted_out": int(session.exec(select(func.count()).select_from(Contact)
                                      .where(col(Contact.sms_opted_out).is_(True), alive)).one()),
    }
