"""Airing plans per commune (Circular 39/2020 levels), operator confirmations, downloads, feed tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.accounts.scope import CommuneScope
from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.audit import service as audit
from broadcast.campaigns.models import BulletinLevel, Campaign
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.exceptions import NotFoundError, ValidationFailed

LEVEL_RANK = {BulletinLevel.emergency.value: 0, BulletinLevel.priority.value: 1, BulletinLevel.normal.value: 2}
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by SMS


@dataclass(frozen=True)
class CatalogueEntry:
    """One clip in a commune's catalogue, with its planned slot and level."""

    airing: Airing
    clip: AudioClip


def next_slot(slots: list[str], now: datetime, settings: Settings) -> datetime:
    """The commune's next loudspeaker slot strictly after `now` (slots are local HH:MM times)."""
    zone = settings.zone
    local = now.astimezone(zone)
    times = sorted(time.fromisoformat(s) for s in (slots or settings.airing_slots.split(",")))
    for day in range(2):
        date_ = local.date() + timedelta(days=day)
        for t in times:
            candidate = datetime.combine(date_, t, tzinfo=zone)
            if candidate > local:
                return candidate.astimezone(UTC)
    raise ValidationFailed("Xã chưa có khung giờ phát.", field="airing_slots")  # pragma: no cover


def planned_time(level: str, slots: list[str], now: datetime, settings: Settings) -> datetime:
    """Emergency airs now; priority and normal go to the next slot (priority first within it)."""
    if level == BulletinLevel.emergency:
        return now
    return next_slot(slots, now, settings)


def _code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))


def plan_airings(
    session: Session, settings: Settings, campaign_id: int, clips: list[AudioClip], *, now: datetime | None = None,
) -> list[Airing]:
    """Airing rows for each target commune and each loudspeaker clip; existing unconfirmed plans are kept."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError("Không tìm thấy chiến dịch.", field="campaign_id")
    now = now or utcnow()
    wanted = list(campaign.audience.get("communes") or [])
    query = select(Commune).where(Commune.province_code == settings.province_code)
    if wanted:
        query = select(Commune).where(col(Commune.code).in_(wanted))
    communes = session.exec(query.order_by(Commune.code)).all()
    existing = {(a.clip_id, a.commune_code) for a in session.exec(
        select(Airing).where(Airing.campaign_id == campaign_id).where(col(Airing.confirmed_at).is_(None))).all()}
    planned: list[Airing] = []
    for commune in communes:
        ensure_feed_token(session, commune)
        for clip in clips:
            if clip.id is None or (clip.id, commune.code) in existing:
                continue
            airing = Airing(clip_id=clip.id, campaign_id=campaign_id, commune_code=commune.code,
                            planned_at=planned_time(campaign.bulletin_level, commune.airing_slots, now, settings),
                            level=campaign.bulletin_level, confirmation_code=_code())
            session.add(airing)
            planned.append(airing)
    session.flush()
    return planned


def catalogue(session: Session, commune_code: str, *, limit: int = 100) -> list[CatalogueEntry]:
    """A commune's clips, newest slot first; within a slot emergency, then priority, then normal."""
    rows = session.exec(
        select(Airing, AudioClip).join(AudioClip, col(AudioClip.id) == Airing.clip_id)
        .where(Airing.commune_code == commune_code).where(AudioClip.status == ClipStatus.ready)
        .order_by(col(Airing.planned_at).desc()).limit(limit)).all()
    entries = [CatalogueEntry(a, c) for a, c in rows]
    entries.sort(key=lambda e: (-e.airing.planned_at.timestamp(), LEVEL_RANK.get(e.airing.level, 9)))
    return entries


def confirm_airing(
    session: Session, *, airing_id: int | None = None, code: str | None = None, aired_at: datetime | None = None,
    source: str = "api", user_id: int | None = None, scope: CommuneScope | None = None,
) -> Airing:
    """Record that the operator aired the clip (idempotent) and log an engagement event once.

    With a `scope`, an airing of a commune outside it is "not found", as if the code were wrong: an operator
    cannot confirm (or learn about) another commune's programme.
    """
    query = select(Airing)
    if airing_id is not None:
        query = query.where(Airing.id == airing_id)
    elif code:
        query = query.where(func.upper(Airing.confirmation_code) == code.strip().upper())
    else:
        raise ValidationFailed("Cần mã phát sóng.", field="code")
    airing = session.exec(query).first()
    if airing is None or (scope is not None and not scope.allows(airing.commune_code)):
        raise NotFoundError("Không tìm thấy lịch phát với mã này.", field="code")
    if airing.confirmed_at is not None:
        return airing
    aired_at = aired_at or utcnow()
    if aired_at.tzinfo is None:
        raise ValidationFailed("Thời điểm phát cần có múi giờ.", field="aired_at")
    airing.confirmed_at, airing.confirmed_by_id, airing.confirmation_source = aired_at, user_id, source
    session.add(EngagementEvent(
        kind=EventKind.airing_confirmed, campaign_id=airing.campaign_id, clip_id=airing.clip_id,
        commune_code=airing.commune_code, occurred_at=aired_at, dedupe_key=f"airing:{airing.id}",
        data={"source": source, "level": airing.level}))
    session.flush()
    return airing


def record_download(session: Session, clip: AudioClip, *, commune_code: str | None = None,
                    client: str = "") -> None:
    """Log one download of a clip as an engagement event."""
    session.add(EngagementEvent(kind=EventKind.download, campaign_id=clip.campaign_id, clip_id=clip.id,
                                commune_code=commune_code, data={"client": client[:120]}))
    session.flush()


def ensure_feed_token(session: Session, commune: Commune) -> str:
    """The commune's unguessable feed token, created on first use."""
    if not commune.feed_token:
        commune.feed_token = secrets.token_urlsafe(24)
        session.add(commune)
        session.flush()
    return commune.feed_token


def rotate_feed_token(session: Session, commune_code: str, *, actor: User | None = None) -> str:
    """Replace the token (old feed addresses stop working): for a lost phone or a departed operator."""
    commune = session.get(Commune, commune_code)
    if commune is None:
        raise NotFoundError("Không tìm thấy xã.", field="commune_code")
    commune.feed_token = secrets.token_urlsafe(24)
    session.add(commune)
    session.flush()
    audit.record(session, action="feed.rotate", entity="commune", entity_id=commune_code,
                 actor_id=actor.id if actor else None, actor=actor.username if actor else "system")
    return commune.feed_token


def commune_by_feed_token(session: Session, token: str, commune_code: str) -> Commune:
    """The commune a feed address names, only when its token matches."""
    commune = session.get(Commune, commune_code)
    if commune is None or not commune.feed_token or not secrets.compare_digest(commune.feed_token, token):
        raise NotFoundError("Không tìm thấy nguồn tin.")
    return commune
