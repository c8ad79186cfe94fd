"""Campaigns list and the campaign page: status, schedule, funnel, communes, failures, resend, replies, audio."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from broadcast.accounts import service as accounts
from broadcast.accounts.models import User
from broadcast.audio.service import clips_of
from broadcast.audio.views import clip_public
from broadcast.bounds import DbId, PageNumber
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.schedules import plans
from broadcast.communes import service as communes
from broadcast.contacts import service as contacts
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.engagement import metrics
from broadcast.engagement.reasons import reason_label
from broadcast.engagement.rollup import ensure_recent, freshness
from broadcast.flows import campaigns as flows
from broadcast.flows.context import effects_of
from broadcast.outbox import queue as outbox
from broadcast.outbox.segments import estimate
from broadcast.web import charts
from broadcast.web.core import (
    EDITORS,
    READERS,
    flash,
    language,
    page_router,
    page_user,
    redirect,
    render,
    settings_of,
    t,
)
from broadcast.web.dashboard import live_progress
from broadcast.web.i18n import fmt_number
from broadcast.web.live import reachable
from broadcast.web.voice_view import voice_panel, voice_script

router = page_router()
PAGE_SIZE = 50
S = CampaignStatus


def campaign_or_404(session: Session, campaign_id: DbId) -> Campaign:
    return service.get_campaign(session, campaign_id)  # a NotFoundError is the 404 page


def audience_text(session: Session, audience: dict[str, object]) -> dict[str, list[str]]:
    """The audience's communes, groups and languages by name."""
    codes = [str(c) for c in audience.get("communes") or []]  # type: ignore[attr-defined]
    ids = [int(g) for g in audience.get("groups") or []]  # type: ignore[attr-defined]
    return {"communes": list(communes.names(session, codes).values()), "groups": contacts.group_names(session, ids),
            "languages": [str(x) for x in audience.get("languages") or []]}  # type: ignore[attr-defined]


@router.get("/campaigns")
def campaigns(request: Request, session: SessionDep, status: str = "", page: PageNumber = 1,
              _user: User = Depends(page_user(READERS))) -> Response:
    rows, total = service.list_campaigns(session, status=status if status in S.__members__ else None,
                                         offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return render(request, "campaigns.html", {"rows": rows, "total": total, "status": status, "page": page,
                                              "pages": max(1, -(-total // PAGE_SIZE)), "statuses": list(S)})


def _number(request: Request) -> Callable[[float], str]:
    lang = language(request)
    return lambda v: fmt_number(v, lang)


@router.get("/campaigns/{campaign_id}")
def campaign_page(campaign_id: DbId, request: Request, session: SessionDep,
                  _user: User = Depends(page_user(READERS))) -> Response:
    campaign = campaign_or_404(session, campaign_id)
    settings = settings_of(request)
    contents = service.contents_of(session, campaign_id)
    sms = next((c.body for c in contents if c.channel == "sms"), "")
    sent_text = service.sms_as_sent(session, campaign)
    ensure_recent(session, settings)
    funnel = metrics.campaign_funnel(session, settings, campaign_id)
    number = _number(request)
    funnel_chart = charts.hbars([(t(request, f"funnel.{k}"), float(funnel.get(k) or 0)) for k in
                                 ("targeted", "sent", "delivered", "failed", "skipped", "replies", "unique_clicks")],
                                fmt=number, title=t(request, "campaign.funnel"))
    reasons: dict[str, int] = defaultdict(int)
    for row in metrics.failures(session, campaign_id):
        reasons[row["label"]] += row["count"]
    failure_chart = charts.hbars(sorted(reasons.items(), key=lambda kv: -kv[1]), fmt=number,
                                 title=t(request, "campaign.failures"), css="bad")
    series = metrics.time_series(session, settings, campaign_id=campaign_id)
    time_chart = charts.day_columns(series, [("delivered", t(request, "chart.delivered")),
                                             ("failed", t(request, "chart.failed"))],
                                    title=t(request, "campaign.over_time"), fmt=number)
    failed = outbox.failed_of(session, campaign_id)
    replies = outbox.replies_to(session, campaign_id)
    clips = clips_of(session, campaign_id)
    users = accounts.users_by_id(session, [campaign.created_by_id, campaign.approved_by_id])
    return render(request, "campaign.html", {
        "c": campaign, "sms": sms, "sent_text": sent_text,
        "sms_estimate": estimate(sent_text, price_per_segment=settings.sms_price_per_segment) if sms else None,
        "script": next((c.body for c in contents if c.channel == "loudspeaker"), ""),
        "voice_script": voice_script(session, campaign_id), "voice": voice_panel(session, settings, campaign),
        "audience": audience_text(session, campaign.audience),
        "reachable": reachable(request, session, campaign.audience),
        "schedule": plans.describe(session, settings, campaign_id, now=utcnow(), count=5),
        "progress": live_progress(request, session, campaign), "funnel": funnel, "funnel_chart": funnel_chart,
        "failure_chart": failure_chart, "time_chart": time_chart,
        "communes": metrics.commune_table(session, settings, campaign_id),
        "failed": [(d, reason_label(d.status, d.error_code, d.error_message or "")) for d in failed],
        "replies": replies, "clips": [(c, clip_public(c, settings)) for c in clips],
        "author": users.get(campaign.created_by_id or 0), "approver": users.get(campaign.approved_by_id or 0),
        "editable": campaign.status in service.EDITABLE, "as_of": freshness(session),
        "price_unit": settings.sms_price_unit,
    })


@router.post("/campaigns/{campaign_id}/start")
def start(campaign_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    done = flows.start(session, effects_of(request.app), campaign_id, actor=user)
    for warning in done.warnings:  # calls still go out, reading the script with <Say>
        flash(request, t(request, "voice.clip_problem", reason=warning), "error")
    flash(request, t(request, "campaign.started"))
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/pause")
def pause(campaign_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    flows.pause(session, effects_of(request.app), campaign_id, actor=user)
    flash(request, t(request, "campaign.paused"))
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/resume")
def resume(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    flows.resume(session, effects_of(request.app), campaign_id, actor=user)
    flash(request, t(request, "campaign.resumed"))
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/cancel")
def cancel(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    flows.cancel(session, effects_of(request.app), campaign_id, actor=user)
    flash(request, t(request, "campaign.cancelled"))
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/resend")
def resend(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    count = service.resend_failed(session, campaign_id, actor_id=user.id, actor=user.username)
    flash(request, t(request, "campaign.resent", n=fmt_number(count, language(request))))
    return redirect(f"/campaigns/{campaign_id}")
