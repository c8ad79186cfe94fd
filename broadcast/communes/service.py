"""Communes and wards: find them, and what an officer may change (legal-aid contact, airing slots)."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from broadcast.audit import service as audit
from broadcast.communes.loading import LoadResult, province_communes, upsert_communes
from broadcast.communes.models import Commune, CommuneUpdate
from broadcast.exceptions import NotFoundError, ValidationFailed


def list_communes(session: Session, province_code: str | None = None, *, q: str | None = None, offset: int = 0,
                  limit: int | None = None) -> list[Commune]:
    """Communes by name (of a province, matching `q`)."""
    return list(session.exec(_query(province_code, q).order_by(col(Commune.name)).offset(offset).limit(limit)))


def count_communes(session: Session, province_code: str | None = None, *, q: str | None = None) -> int:
    return int(session.exec(select(func.count()).select_from(_query(province_code, q).subquery())).one())


def _query(province_code: str | None, q: str | None) -> SelectOfScalar[Commune]:
    query = select(Commune)
    if q:
        query = query.where(col(Commune.name).ilike(f"%{q}%"))
    if province_code:
        query = query.where(Commune.province_code == province_code)
    return query


def names(session: Session, codes: list[str]) -> dict[str, str]:
    """Commune names by code."""
    if not codes:
        return {}
    return dict(session.exec(select(Commune.code, Commune.name).where(col(Commune.code).in_(codes))).all())


def get_commune(session: Session, code: str) -> Commune:
    commune = session.get(Commune, code)
    if commune is None:
        raise NotFoundError(f"Không có xã/phường mã {code}", field="code")
    return commune


def update_commune(session: Session, code: str, data: CommuneUpdate, *, actor_id: int | None,
                   actor: str) -> Commune:
    """Change the legal-aid contact told to residents who text HELP, or the loudspeaker airing slots."""
    commune = get_commune(session, code)
    before = audit.snapshot(commune)
    if data.legal_aid_contact is not None:
        commune.legal_aid_contact = data.legal_aid_contact
    if data.airing_slots is not None:
        if not data.airing_slots:
            raise ValidationFailed("Cần ít nhất một giờ phát (dạng HH:MM)", field="airing_slots")
        commune.airing_slots = sorted(set(data.airing_slots))
    session.add(commune)
    audit.record(session, action="commune.update", entity="commune", entity_id=code, actor_id=actor_id,
                 actor=actor, before=before, after=audit.snapshot(commune))
    return commune


def load_province(session: Session, province_code: str, *, actor_id: int | None, actor: str) -> LoadResult:
    """Load (or refresh) a province's communes and wards from `vietnam-provinces`, as `broadcast communes load`
    does; officers' settings of existing communes are kept."""
    result = upsert_communes(session, province_code, province_communes(province_code))
    audit.record(session, action="communes.load", entity="province", entity_id=province_code, actor_id=actor_id,
                 actor=actor, after={"created": result.created, "updated": result.updated, "total": result.total})
    return result
