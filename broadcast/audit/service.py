"""Audit trail: who did what, when, with the state before and after."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, SQLModel, col, select

from broadcast.audit.models import AuditLog


def snapshot(obj: SQLModel | None, *, exclude: set[str] | None = None) -> dict[str, Any] | None:
    """A JSON-safe copy of a row's columns for the audit log."""
    if obj is None:
        return None
    data = obj.model_dump(exclude=exclude or set())
    return {key: _jsonable(value) for key, value in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def record(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: object | None = None,
    actor_id: int | None = None,
    actor: str = "system",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit entry in the caller's transaction."""
    entry = AuditLog(
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        actor_id=actor_id,
        actor=actor,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


def entries(session: Session, *, entity: str | None = None, entity_id: str | None = None, offset: int = 0,
            limit: int = 100) -> tuple[list[AuditLog], int]:
    """A page of the audit log, newest first, and how many entries match."""
    query = select(AuditLog)
    if entity:
        query = query.where(AuditLog.entity == entity)
    if entity_id:
        query = query.where(AuditLog.entity_id == entity_id)
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = session.exec(query.order_by(col(AuditLog.id).desc()).offset(offset).limit(limit)).all()
    return list(rows), total


def entities(session: Session) -> list[str]:
    """The kinds of things the log has entries about (for a filter)."""
    return sorted(session.exec(select(AuditLog.entity).distinct()).all())
