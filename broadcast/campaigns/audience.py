"""Audience resolution: a campaign's filter as one SQL condition over residents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from broadcast.contacts.models import Contact, ContactTag, GroupMember, Tag


def audience_condition(audience: dict[str, Any], channel: str = "sms") -> ColumnElement[bool]:
    """Residents the audience selects who can receive `channel` (not erased, not opted out)."""
    conditions: list[ColumnElement[bool]] = [
        col(Contact.phone).is_not(None),
        col(Contact.erased_at).is_(None),
    ]
    if channel == "sms":
        conditions.append(col(Contact.sms_opted_out).is_(False))
    elif channel == "voice":
        conditions.append(col(Contact.voice_opted_out).is_(False))
    communes = [str(c) for c in audience.get("communes") or []]
    if communes:
        conditions.append(col(Contact.commune_code).in_(communes))
    languages = [str(lang) for lang in audience.get("languages") or []]
    if languages:
        conditions.append(col(Contact.language).in_(languages))
    groups = [int(g) for g in audience.get("groups") or []]
    if groups:
        members = select(col(GroupMember.contact_id)).where(col(GroupMember.group_id).in_(groups))
        conditions.append(col(Contact.id).in_(members))
    tags = [str(t).lower() for t in audience.get("tags") or []]
    if tags:
        tagged = (
            select(col(ContactTag.contact_id))
            .join(Tag, col(Tag.id) == ContactTag.tag_id)
            .where(col(Tag.name).in_(tags))
        )
        conditions.append(col(Contact.id).in_(tagged))
    return and_(*conditions)


def count_reachable(session: Session, audience: dict[str, Any], channel: str = "sms") -> int:
    """How many residents a campaign with this audience would reach on `channel` now."""
    query = select(func.count()).select_from(Contact).where(audience_condition(audience, channel))
    return int(session.execute(query).scalar_one())
