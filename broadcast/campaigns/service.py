"""Campaign lifecycle: draft → pending_approval → approved → scheduled → sending → completed | cancelled | paused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.campaigns.audience import count_reachable
from broadcast.campaigns.fanout import fan_out
from broadcast.campaigns.models import (
    Campaign,
    CampaignContent,
    CampaignRun,
    CampaignStatus,
    RunStatus,
)
from broadcast.campaigns.schemas import CampaignCreate, CampaignPublic, CampaignUpdate, ContentIn
from broadcast.db import utcnow
from broadcast.exceptions import InvalidTransition, NotFoundError, PermissionDenied, ValidationFailed
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.outbox.segments import strip_diacritics

S = CampaignStatus
EDITABLE = {S.draft, S.pending_approval, S.approved, S.scheduled, S.paused}
TRANSITIONS: dict[str, set[str]] = {
    "submit": {S.draft},
    "approve": {S.pending_approval},
    "reject": {S.pending_approval},
    "schedule": {S.approved, S.scheduled, S.paused},
    "start": {S.approved, S.scheduled},
    "pause": {S.sending, S.scheduled},
    "resume": {S.paused},
    "cancel": {S.draft, S.pending_approval, S.approved, S.scheduled, S.sending, S.paused},
}


def _require(campaign: Campaign, action: str) -> None:
    if campaign.status not in TRANSITIONS[action]:
        allowed = ", ".join(sorted(TRANSITIONS[action]))
        raise InvalidTransition(
            f"Không thể {action} chiến dịch đang ở trạng thái {campaign.status} (cần: {allowed})",
            field="status",
        )


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"Không tìm thấy chiến dịch #{campaign_id}")
    return campaign


def contents_of(session: Session, campaign_id: int) -> list[CampaignContent]:
    return list(session.exec(select(CampaignContent).where(CampaignContent.campaign_id == campaign_id)))


def sms_as_sent(session: Session, campaign: Campaign) -> str:
    """The campaign's Vietnamese SMS as residents will get it (without diacritics when the campaign says so)."""
    assert campaign.id is not None
    body = next((c.body for c in contents_of(session, campaign.id) if c.channel == "sms"), "")
    return strip_diacritics(body) if campaign.strip_diacritics and body else body


def list_campaigns(session: Session, *, status: str | None = None, offset: int = 0,
                   limit: int = 50) -> tuple[list[Campaign], int]:
    """A page of campaigns, most recently changed first, and how many there are."""
    query = select(Campaign)
    if status:
        query = query.where(Campaign.status == status)
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = session.exec(query.order_by(col(Campaign.updated_at).desc()).offset(offset).limit(limit)).all()
    return list(rows), total


def pending_approval(session: Session, *, limit: int = 50) -> list[Campaign]:
    """The approvers' queue, oldest submission first."""
    return list(session.exec(select(Campaign).where(Campaign.status == S.pending_approval)
                             .order_by(col(Campaign.submitted_at)).limit(limit)).all())


def in_progress(session: Session, *, now: datetime, recent: timedelta, limit: int = 10) -> list[Campaign]:
    """Campaigns sending or paused, and those finished within `recent`, latest change first."""
    finished = (col(Campaign.status) == S.completed) & (col(Campaign.updated_at) >= now - recent)
    return list(session.exec(select(Campaign).where(col(Campaign.status).in_([S.sending, S.paused]) | finished)
                             .order_by(col(Campaign.updated_at).desc()).limit(limit)).all())


def status_counts(session: Session) -> dict[str, int]:
    """How many campaigns are in each status."""
    rows = session.execute(select(Campaign.status, func.count()).group_by(col(Campaign.status))).all()
    return {str(status): int(n) for status, n in rows}


def get_many(session: Session, ids: Sequence[int]) -> list[Campaign]:
    if not ids:
        return []
    return list(session.exec(select(Campaign).where(col(Campaign.id).in_(ids))).all())


def runs_of(session: Session, campaign_id: int) -> list[CampaignRun]:
    """A campaign's runs, latest first."""
    get_campaign(session, campaign_id)
    return list(session.exec(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                             .order_by(col(CampaignRun.scheduled_for).desc())).all())


def to_public(session: Session, campaign: Campaign, *, with_reach: bool = False) -> CampaignPublic:
    assert campaign.id is not None
    contents = [ContentIn(channel=c.channel, language=c.language, body=c.body)
                for c in contents_of(session, campaign.id)]
    reach = count_reachable(session, campaign.audience, "sms") if with_reach else None
    return CampaignPublic.model_validate({**campaign.model_dump(), "contents": contents, "reachable": reach})


def _contents(data: CampaignCreate | CampaignUpdate) -> list[ContentIn] | None:
    contents = list(data.contents) if data.contents is not None else None
    if data.sms_text is not None:
        contents = [c for c in (contents or []) if not (c.channel == "sms" and c.language == "vi")]
        contents.append(ContentIn(channel="sms", language="vi", body=data.sms_text))
    return contents


def _replace_contents(session: Session, campaign_id: int, contents: list[ContentIn]) -> None:
    session.execute(delete(CampaignContent).where(col(CampaignContent.campaign_id) == campaign_id))
    seen: set[tuple[str, str]] = set()
    for item in contents:
        key = (item.channel, item.language)
        if key in seen:
            raise ValidationFailed(f"Nội dung {item.channel}/{item.language} bị lặp", field="contents")
        seen.add(key)
        session.add(CampaignContent(campaign_id=campaign_id, channel=item.channel, language=item.language,
                                    body=item.body))


def create_campaign(session: Session, data: CampaignCreate, *, author_id: int | None = None,
                    actor: str = "system") -> Campaign:
    """A new draft."""
    fields = data.model_dump(exclude={"contents", "sms_text", "audience"})
    campaign = Campaign(**fields, audience=data.audience.model_dump(), created_by_id=author_id)
    session.add(campaign)
    session.flush()
    assert campaign.id is not None
    _replace_contents(session, campaign.id, _contents(data) or [])
    session.flush()
    audit.record(session, action="campaign.create", entity="campaign", entity_id=campaign.id,
                 actor_id=author_id, actor=actor, after=audit.snapshot(campaign))
    return campaign


def update_campaign(session: Session, campaign_id: int, data: CampaignUpdate, *, actor_id: int | None = None,
                    actor: str = "system") -> Campaign:
    """Edit a campaign; an approved one goes back to draft so the change is approved again."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status not in EDITABLE:
        raise InvalidTransition(f"Không thể sửa chiến dịch đang ở trạng thái {campaign.status}", field="status")
    before = audit.snapshot(campaign)
    changes = data.model_dump(exclude_unset=True, exclude={"contents", "sms_text", "audience"})
    for key, value in changes.items():
        setattr(campaign, key, value)
    if data.audience is not None:
        campaign.audience = data.audience.model_dump()
    contents = _contents(data)
    if contents is not None:
        _replace_contents(session, campaign_id, contents)
    content_changed = contents is not None or any(
        k in changes for k in ("channels", "title", "strip_diacritics")
    ) or data.audience is not None
    if content_changed and campaign.status in {S.pending_approval, S.approved, S.scheduled}:
        campaign.status = S.draft
        campaign.approved_by_id = campaign.approved_at = None
        # The approved reading of the scripts goes with the approval; the next approval fixes it again.
        session.execute(update(CampaignContent).where(col(CampaignContent.campaign_id) == campaign_id)
                        .values(spoken_text=None))
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    audit.record(session, action="campaign.update", entity="campaign", entity_id=campaign_id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(campaign))
    return campaign


def _transition(session: Session, campaign: Campaign, status: str, action: str, actor_id: int | None,
                actor: str, **extra: Any) -> Campaign:
    before = audit.snapshot(campaign)
    campaign.status = status
    for key, value in extra.items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    audit.record(session, action=f"campaign.{action}", entity="campaign", entity_id=campaign.id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(campaign))
    return campaign


def submit(session: Session, campaign_id: int, *, actor_id: int | None = None, actor: str = "system") -> Campaign:
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "submit")
    bodies = contents_of(session, campaign_id)
    for channel in campaign.channels:
        if not any(c.channel == channel or (channel == "voice" and c.channel == "loudspeaker") for c in bodies):
            raise ValidationFailed(f"Chưa có nội dung cho kênh {channel}", field="contents")
    return _transition(session, campaign, S.pending_approval, "submit", actor_id, actor, submitted_at=utcnow())


def approve(session: Session, campaign_id: int, *, approver_id: int | None, actor: str = "system",
            comment: str = "") -> Campaign:
    """Approve a submitted campaign; its author may not approve it."""
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "approve")
    if approver_id is not None and approver_id == campaign.created_by_id:
        raise PermissionDenied("Người soạn không được tự phê duyệt chiến dịch của mình")
    return _transition(session, campaign, S.approved, "approve", approver_id, actor,
                       approved_by_id=approver_id, approved_at=utcnow(), review_comment=comment)


def reject(session: Session, campaign_id: int, *, approver_id: int | None, actor: str = "system",
           comment: str = "") -> Campaign:
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "reject")
    if not comment.strip():
        raise ValidationFailed("Hãy ghi lý do trả lại", field="comment")
    return _transition(session, campaign, S.draft, "reject", approver_id, actor, review_comment=comment)


def start_run(session: Session, campaign_id: int, *, actor_id: int | None = None, actor: str = "system",
              run: CampaignRun | None = None) -> CampaignRun:
    """Start a run now (or the given scheduled run): fan out its deliveries and begin sending."""
    campaign = get_campaign(session, campaign_id)
    if run is None or campaign.status != S.sending:  # a scheduled occurrence may overlap a running one
        _require(campaign, "start")
    now = utcnow()
    if campaign.expires_at is not None and campaign.expires_at <= now:
        raise ValidationFailed("Chiến dịch đã quá hạn gửi", field="expires_at")
    if run is None:
        run = CampaignRun(campaign_id=campaign_id, scheduled_for=now)
        session.add(run)
        session.flush()
    run.status, run.started_at = RunStatus.sending, now
    fan_out(session, campaign, run, due_at=max(run.scheduled_for, now))
    if campaign.status != S.sending:
        _transition(session, campaign, S.sending, "start", actor_id, actor)
    return run


def pause(session: Session, campaign_id: int, *, actor_id: int | None = None, actor: str = "system") -> Campaign:
    """Stop sending; queued deliveries wait (dispatchers skip paused campaigns)."""
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "pause")
    return _transition(session, campaign, S.paused, "pause", actor_id, actor)


def resume(session: Session, campaign_id: int, *, actor_id: int | None = None, actor: str = "system") -> Campaign:
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "resume")
    running = session.exec(
        select(CampaignRun.id).where(CampaignRun.campaign_id == campaign_id,
                                     CampaignRun.status == RunStatus.sending)
    ).first()
    target = S.sending if running is not None else (S.scheduled if campaign.schedule else S.approved)
    return _transition(session, campaign, target, "resume", actor_id, actor)


def cancel(session: Session, campaign_id: int, *, actor_id: int | None = None, actor: str = "system") -> Campaign:
    """Cancel: queued deliveries become cancelled at once; in-flight ones finish."""
    campaign = get_campaign(session, campaign_id)
    _require(campaign, "cancel")
    now = utcnow()
    session.execute(
        update(Delivery)
        .where(col(Delivery.campaign_id) == campaign_id, col(Delivery.status) == DeliveryStatus.queued)
        .values(status=DeliveryStatus.cancelled, finished_at=now, updated_at=now)
    )
    session.execute(
        update(CampaignRun)
        .where(col(CampaignRun.campaign_id) == campaign_id,
               col(CampaignRun.status).in_([RunStatus.pending, RunStatus.sending]))
        .values(status=RunStatus.cancelled, finished_at=now)
    )
    return _transition(session, campaign, S.cancelled, "cancel", actor_id, actor)


def resend_failed(session: Session, campaign_id: int, *, actor_id: int | None = None,
                  actor: str = "system") -> int:
    """Queue failed or undelivered deliveries of a campaign again (not those refused permanently by opt-out)."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status in {S.cancelled, S.draft, S.pending_approval}:
        raise InvalidTransition(f"Không thể gửi lại khi chiến dịch ở trạng thái {campaign.status}")
    now = utcnow()
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.campaign_id) == campaign_id,
            col(Delivery.status).in_([DeliveryStatus.failed, DeliveryStatus.undelivered]),
            col(Delivery.error_code).is_distinct_from(21610),
        )
        .values(status=DeliveryStatus.queued, next_attempt_at=now, attempts=0, error_code=None,
                error_message=None, finished_at=None, provider_sid=None, provider_status=None, waiting_reason=None,
                updated_at=now)
    )
    count = max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    if count and campaign.status in {S.completed, S.paused, S.approved, S.scheduled}:
        _transition(session, campaign, S.sending, "resend", actor_id, actor)
    audit.record(session, action="campaign.resend_failed", entity="campaign", entity_id=campaign_id,
                 actor_id=actor_id, actor=actor, after={"requeued": count})
    return count
