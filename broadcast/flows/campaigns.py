"""Campaign use cases that reach beyond the campaign itself: audio on approval, call clips on start, and the
scheduler's wake-up after every change to what or when it sends. The API and the pages both call these.

A step that cannot be done (an audio problem) does not undo the decision it follows (the approval): it comes
back as a warning for the person who acted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlmodel import Session

from broadcast.accounts.models import User
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignRun
from broadcast.campaigns.schedules import plans
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.campaigns.schemas import CampaignUpdate
from broadcast.db import after_commit, utcnow
from broadcast.exceptions import BroadcastError
from broadcast.flows.audio import prepare_campaign_audio, prepare_voice_clips
from broadcast.flows.context import Effects

T = TypeVar("T")


@dataclass(frozen=True)
class Done(Generic[T]):
    """What a use case produced, and what its person should know that did not go as planned."""

    value: T
    warnings: list[str] = field(default_factory=list)


def update(session: Session, effects: Effects, campaign_id: int, data: CampaignUpdate, *,
           actor: User) -> Campaign:
    campaign = service.update_campaign(session, campaign_id, data, actor_id=actor.id, actor=actor.username)
    after_commit(session, effects.wake)
    return campaign


def schedule(session: Session, effects: Effects, campaign_id: int, body: ScheduleIn, *, actor: User) -> Campaign:
    """Set or change when the campaign sends; schedulers elsewhere pick it up within seconds."""
    campaign = plans.set_schedule(session, effects.settings, campaign_id, body, now=utcnow(), actor_id=actor.id,
                                  actor=actor.username)
    after_commit(session, effects.wake)
    return campaign


def unschedule(session: Session, effects: Effects, campaign_id: int, *, actor: User) -> Campaign:
    campaign = plans.clear_schedule(session, campaign_id, now=utcnow(), actor_id=actor.id, actor=actor.username)
    after_commit(session, effects.wake)
    return campaign


def approve(session: Session, effects: Effects, campaign_id: int, *, approver: User,
            comment: str = "") -> Done[Campaign]:
    """Approve; then fix the scripts, render the clips and put loudspeaker bulletins on the programmes."""
    campaign = service.approve(session, campaign_id, approver_id=approver.id, actor=approver.username,
                               comment=comment)
    warnings = []
    try:
        with session.begin_nested():  # an audio problem rolls back only the audio, not the approval
            prepare_campaign_audio(session, effects.settings, effects.audio, campaign)
    except BroadcastError as exc:
        warnings.append(exc.message)
    after_commit(session, effects.wake)
    return Done(campaign, warnings)


def start(session: Session, effects: Effects, campaign_id: int, *, actor: User) -> Done[CampaignRun]:
    """Start a run now; calls wait for clips still rendering (asked for here too, for campaigns approved before
    their script changed)."""
    run = service.start_run(session, campaign_id, actor_id=actor.id, actor=actor.username)
    warnings = []
    try:
        with session.begin_nested():
            prepare_voice_clips(session, effects.settings, effects.audio, service.get_campaign(session, campaign_id))
    except BroadcastError as exc:  # calls still go out, reading the script with <Say>
        warnings.append(exc.message)
    after_commit(session, effects.wake)
    return Done(run, warnings)


def pause(session: Session, effects: Effects, campaign_id: int, *, actor: User) -> Campaign:
    campaign = service.pause(session, campaign_id, actor_id=actor.id, actor=actor.username)
    after_commit(session, effects.wake)
    return campaign


def resume(session: Session, effects: Effects, campaign_id: int, *, actor: User) -> Campaign:
    campaign = service.resume(session, campaign_id, actor_id=actor.id, actor=actor.username)
    after_commit(session, effects.wake)
    return campaign


def cancel(session: Session, effects: Effects, campaign_id: int, *, actor: User) -> Campaign:
    campaign = service.cancel(session, campaign_id, actor_id=actor.id, actor=actor.username)
    after_commit(session, effects.wake)
    return campaign
