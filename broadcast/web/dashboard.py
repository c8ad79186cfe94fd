"""The officers' dashboard: key figures, campaigns in progress (live), upcoming runs, latest replies."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from broadcast.accounts.models import Role, User
from broadcast.bounds import MAX_ID, DbId, parse_count
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.schedules import calendar
from broadcast.contacts import service as contacts
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.engagement import inbox, metrics
from broadcast.engagement.counts import campaign_counts
from broadcast.engagement.rollup import ensure_recent
from broadcast.flows.firstrun import first_run
from broadcast.flows.waiting import Report, campaign_waiting
from broadcast.outbox import queue as outbox
from broadcast.web import charts
from broadcast.web.core import ALL, EDITORS, READERS, language, page_router, page_user, redirect, render, settings_of, t
from broadcast.web.i18n import fmt_datetime, fmt_number

router = page_router()
FIGURES_TTL = 60.0  # seconds: resident counts over a million rows are cached, not recounted per page view
WAITING_TTL = 5.0  # seconds: why a large campaign's messages wait is read once per poll period, not per viewer
RECENT = timedelta(days=2)  # finished campaigns stay on the dashboard this long
# Every open campaign page and dashboard polls its progress every 3 s (app.js). Counting a campaign of a million
# deliveries by status costs 60 ms idle and about 0.4 s of PostgreSQL CPU while it sends (measured in the
# province rehearsal), so a few dozen officers watching one province campaign would take the database from the
# sending. From PROGRESS_SHARED_FROM deliveries, one count per campaign and poll period serves every viewer of
# the process; smaller campaigns (a count under a few milliseconds) stay exact at every poll.
PROGRESS_TTL = 3.0
PROGRESS_SHARED_FROM = 20_000


def progress_of(session: Session, campaign_id: DbId) -> dict[str, int]:
    """Delivery progress of a campaign: total, done (final), delivered, failed, waiting."""
    counts = campaign_counts(session, campaign_id)["by_status"]
    failed = counts["failed"] + counts["undelivered"]
    waiting = counts["queued"] + counts["sending"]
    total = sum(counts.values())
    return {"total": total, "done": total - waiting, "delivered": counts["delivered"], "sent": counts["sent"],
            "failed": failed, "skipped": counts["skipped"] + counts["cancelled"], "waiting": waiting}


def waiting_lines(request: Request, report: Report) -> list[str]:
    """Why a campaign's messages wait and until when, one phrase per reason, then the expected finish."""
    zone, lang = settings_of(request).zone, language(request)
    lines = [t(request, f"waiting.{w.reason}", n=fmt_number(w.count, lang),
               until=fmt_datetime(w.until, zone) if w.until else t(request, "waiting.unknown"))
             + (f" ({report.retry_error})" if w.reason == "retry_backoff" and report.retry_error else "")
             for w in report.waiting]
    if report.estimated_finish is not None:
        lines.append(t(request, "waiting.finish", when=fmt_datetime(report.estimated_finish, zone)))
    return lines


def shared_progress(request: Request, session: Session, campaign: Campaign) -> dict[str, int]:
    """`progress_of`, shared by the viewers of a large campaign for PROGRESS_TTL (per process; keyed by status,
    so a pause or a resume shows at once)."""
    cache: dict[tuple[int, str], tuple[float, dict[str, int]]] | None = getattr(request.app.state, "progress", None)
    if cache is None:
        cache = request.app.state.progress = {}
    key = (campaign.id or 0, campaign.status)
    hit = cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return dict(hit[1])
    progress = progress_of(session, campaign.id or 0)
    if progress["total"] >= PROGRESS_SHARED_FROM:
        if len(cache) > 500:
            cache.clear()
        cache[key] = (time.monotonic() + PROGRESS_TTL, progress)
    return progress


def live_progress(request: Request, session: Session, campaign: Campaign) -> dict[str, Any]:
    """A campaign's progress with, while messages wait, the one line that says why and until when."""
    progress: dict[str, Any] = dict(shared_progress(request, session, campaign))
    why = ""
    if progress["waiting"] and campaign.status in (CampaignStatus.sending, CampaignStatus.paused):
        # Per process, keyed by status too: a pause or a resume shows at once.
        cache: dict[tuple[int, str, str], tuple[float, str]] | None = getattr(request.app.state, "waiting_lines",
                                                                            None)
        if cache is None:
            cache = request.app.state.waiting_lines = {}
        key = (campaign.id or 0, campaign.status, language(request))
        hit = cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            why = hit[1]
        else:
            why = " · ".join(waiting_lines(request, campaign_waiting(session, settings_of(request), campaign,
                                                                      now=utcnow())))
            if len(cache) > 500:
                cache.clear()
            cache[key] = (time.monotonic() + WAITING_TTL, why)
    progress["why"] = why
    return progress


def resident_figures(request: Request, session: Session) -> dict[str, int]:
    """Residents and opted-out residents, cached for a minute per process."""
    cached = getattr(request.app.state, "web_figures", None)
    if cached and cached[0] > time.monotonic():
        return dict(cached[1])
    figures = contacts.resident_counts(session)
    request.app.state.web_figures = (time.monotonic() + FIGURES_TTL, figures)
    return figures


@router.get("/")
def dashboard(request: Request, session: SessionDep, user: User = Depends(page_user(ALL))) -> Response:
    if user.role == Role.radio_operator:
        return redirect("/radio")
    if user.role not in READERS:  # pragma: no cover - every role is one or the other
        return redirect("/login")
    settings = settings_of(request)
    now = utcnow()
    live = campaigns.in_progress(session, now=now, recent=RECENT)
    statuses = campaigns.status_counts(session)
    questions = inbox.status_counts(session)
    replies = outbox.replies_to(session, limit=6)
    ensure_recent(session, settings)
    start = (now.astimezone(settings.zone) - timedelta(days=13)).date()
    series = metrics.time_series(session, settings, period=metrics.Period(start=start))
    lang = request.session.get("lang", "vi")
    chart = charts.day_columns(series, [("delivered", t(request, "chart.delivered")),
                                        ("failed", t(request, "chart.failed")),
                                        ("replies", t(request, "chart.replies"))],
                               title=t(request, "dashboard.chart"),
                               fmt=lambda v: f"{int(v):,}".replace(",", "." if lang == "vi" else ","))
    steps = first_run(session, settings, user) if user.role in EDITORS else []
    return render(request, "dashboard.html", {
        "steps": steps if not all(s.done for s in steps) else [],
        "figures": {**resident_figures(request, session),
                    "pending": int(statuses.get(CampaignStatus.pending_approval, 0)),
                    "sending": int(statuses.get(CampaignStatus.sending, 0)),
                    "questions": questions.get("new", 0) + questions.get("assigned", 0)},
        "live": [(c, live_progress(request, session, c)) for c in live],
        # approved and waiting for someone to start them: one button away from sending
        "ready": campaigns.list_campaigns(session, status=CampaignStatus.approved, limit=5)[0],
        "upcoming": calendar.upcoming(session, settings, now=now, days=14, limit=8),
        "replies": replies,
        "chart": chart,
    })


@router.get("/ui/progress")
def progress(request: Request, session: SessionDep, ids: str = "",
             _user: User = Depends(page_user(READERS))) -> JSONResponse:
    """Live progress of campaigns for the polling script: {id: {status, total, done, …, why}}."""
    wanted = [n for part in ids.split(",")[:50] if (n := parse_count(part.strip(), maximum=MAX_ID)) is not None]
    result: dict[str, Any] = {}
    for campaign in campaigns.get_many(session, wanted):
        result[str(campaign.id)] = {"status": campaign.status, **live_progress(request, session, campaign)}
    return JSONResponse(result, headers={"Cache-Control": "no-store"})
