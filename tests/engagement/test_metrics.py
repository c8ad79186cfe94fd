"""Metrics equal counts computed independently from the raw rows; exports open and agree with them."""

from __future__ import annotations

import io
import random
import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.engagement import exports, inbox, links, metrics
from broadcast.engagement.inbound import handle_inbound
from broadcast.engagement.links import record_click
from broadcast.engagement.models import Conversation, RollupState
from broadcast.engagement.rollup import ensure_recent, refresh_rollup
from broadcast.events.models import EngagementEvent
from broadcast.outbox.models import Delivery, InboundMessage
from broadcast.outbox.status import apply_status
from tests.conftest import BOTH
from tests.engagement.conftest import inbound_params
from tests.support.seed import approved_campaign, seed_contacts, start, wait_until

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

OUTCOMES = [("delivered", None), ("delivered", None), ("delivered", None), ("sent", None),
            ("undelivered", 30003), ("undelivered", 30005), ("failed", 21211), ("skipped", None), ("queued", None),
            ("unknown", None)]  # reconciliation gave up: accepted, final state never reported


def _populate(engine: Engine, settings: Settings) -> int:
    rng = random.Random(7)
    seed_contacts(engine, 60, commune="32248")
    seed_contacts(engine, 40, start=60, commune="31825")
    campaign_id = approved_campaign(engine, ask_rating=True)
    start(engine, campaign_id)
    now = utcnow()
    with Session(engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
        for i, d in enumerate(rows):
            status, code = OUTCOMES[rng.randrange(len(OUTCOMES))]
            sent = status not in ("queued", "skipped")
            session.execute(update(Delivery).where(col(Delivery.id) == d.id).values(
                status=status if status in ("unknown", "queued", "skipped") else "sent",
                provider_sid=f"SM{d.id:032d}" if sent else None,
                sent_at=now - timedelta(days=i % 2) if sent else None, segments=1 + i % 3 if sent else None,
                error_message="opted out" if status == "skipped" else None))
            if sent and status not in ("sent", "unknown"):
                # Callbacks repeated and out of order: the final state must win and count once.
                for reported in (status, "sent", status, "queued"):
                    apply_status(session, provider_sid=f"SM{d.id:032d}", provider_status=reported,
                                 error_code=code, at=now)
        session.commit()
        deliveries = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
        phones = {d.contact_id: d.to_phone for d in deliveries}
        received = [d for d in deliveries if d.status in ("sent", "delivered")]
        for d in received[:30]:  # clicks, some twice and some by a preview bot
            link = links.encode(settings, d.id or 0)
            record_click(session, settings, link, user_agent="Mozilla/5.0 (Linux; Android 10) Mobile", count=True)
            record_click(session, settings, link, user_agent="Mozilla/5.0 (Linux; Android 10) Mobile", count=True)
            record_click(session, settings, link, user_agent="facebookexternalhit/1.1", count=True)
        for d in received[30:40]:
            record_click(session, settings, links.encode(settings, d.id or 0), user_agent="Zalo", count=True)
        for n, d in enumerate(received[:24]):
            body = ["5", "Hỏi về đất đai", "STOP", "3"][n % 4]
            params = inbound_params(phones[d.contact_id] or "", body, sid=f"SMin{n:030d}")
            handle_inbound(session, params)
            handle_inbound(session, params)  # Twilio retried the webhook
        session.flush()
        for conversation in session.exec(select(Conversation)).all()[:4]:
            assert conversation.id is not None
            inbox.answer(session, conversation.id, "Trả lời", officer_id=None)
        clip = AudioClip(content_hash="c" * 64, campaign_id=campaign_id, status=ClipStatus.ready)
        session.add(clip)
        session.flush()
        assert clip.id is not None
        for commune, confirmed in (("32248", True), ("32248", False), ("31825", True)):
            session.add(Airing(clip_id=clip.id, campaign_id=campaign_id, commune_code=commune, planned_at=now,
                               confirmed_at=now if confirmed else None))
        for _ in range(3):
            session.add(EngagementEvent(kind="download", campaign_id=campaign_id, clip_id=clip.id,
                                        commune_code="31825"))
        session.commit()
        refresh_rollup(session, settings)
        session.commit()
    return campaign_id


def _raw(engine: Engine, settings: Settings, campaign_id: int) -> dict[str, dict[str, Any]]:
    """The figures per commune ('' = all), counted in Python from the raw rows."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    with Session(engine) as session:
        commune_of = {c.id: c.commune_code for c in session.exec(select(Contact)).all()}
        for d in session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id,
                                                     Delivery.kind == "campaign")).all():
            for key in ("", commune_of[d.contact_id]):
                row = out[key or ""]
                row["targeted"] += 1
                row["sent"] += d.status in ("sent", "delivered", "undelivered", "unknown")
                row["unknown"] += d.status == "unknown"
                row["delivered"] += d.status == "delivered"
                row["failed"] += d.status in ("failed", "undelivered")
                row["skipped"] += d.status == "skipped"
                row["segments"] += d.segments or 0
        for m in session.exec(select(InboundMessage).where(InboundMessage.campaign_id == campaign_id)).all():
            for key in ("", commune_of.get(m.contact_id)):
                out[key or ""]["replies"] += 1
                out[key or ""]["questions"] += m.classification == "question"
        for e in session.exec(select(EngagementEvent).where(EngagementEvent.campaign_id == campaign_id)).all():
            name = {"click": "unique_clicks", "download": "downloads", "opt_out": "opt_outs"}.get(e.kind)
            if name:
                for key in ("", e.commune_code):
                    out[key or ""][name] += 1
        times = [(c.first_response_at - c.created_at).total_seconds()
                 for c in session.exec(select(Conversation)).all() if c.first_response_at]
        out[""]["answered"] = len(times)
        out[""]["median_response_seconds"] = statistics.median(times)
        for a in session.exec(select(Airing)).all():
            for key in ("", a.commune_code):
                out[key]["airings_planned"] += 1
                out[key]["airings_confirmed"] += a.confirmed_at is not None
    return out


FIELDS = ["targeted", "sent", "delivered", "failed", "skipped", "unknown", "segments", "replies", "questions",
          "unique_clicks", "downloads", "opt_outs", "airings_planned", "airings_confirmed"]


def test_metrics_match_raw_rows(engine: Engine, settings: Settings) -> None:
    campaign_id = _populate(engine, settings)
    raw = _raw(engine, settings, campaign_id)
    with Session(engine) as session:
        funnel = metrics.campaign_funnel(session, settings, campaign_id)
        communes = {r["commune_code"]: r for r in metrics.commune_table(session, settings, campaign_id)}
        series = metrics.time_series(session, settings, campaign_id)
        fails = metrics.failures(session, campaign_id)
    for name in FIELDS:
        assert funnel[name] == raw[""][name], name
        for code in ("32248", "31825"):
            assert communes[code][name] == raw[code][name], (code, name)
    assert funnel["targeted"] == 100 and funnel["unique_clicks"] == 30  # bots and repeats not counted
    assert funnel["answered"] == raw[""]["answered"] == 4
    assert funnel["median_response_seconds"] == pytest.approx(raw[""]["median_response_seconds"])
    assert funnel["estimated_cost"] == pytest.approx(raw[""]["segments"] * settings.sms_price_per_segment)
    assert funnel["delivery_rate"] == pytest.approx(raw[""]["delivered"] / raw[""]["sent"], abs=1e-4)
    assert sum(d["sent"] for d in series) == funnel["sent"] and len(series) == 2
    assert sum(d["unique_clicks"] for d in series) == 30
    by_reason: Counter[tuple[str, str]] = Counter()
    for f in fails:
        by_reason[(f["status"], f["error_code"])] += f["count"]
    with Session(engine) as session:
        expected = Counter((d.status, d.error_code) for d in session.exec(
            select(Delivery).where(Delivery.campaign_id == campaign_id,
                                   col(Delivery.status).in_(["failed", "undelivered", "skipped"]))).all())
    assert by_reason == expected
    assert any("Máy không liên lạc được" in f["label"] for f in fails)


def test_rollup_refresh_follows_late_changes(engine: Engine, settings: Settings) -> None:
    campaign_id = _populate(engine, settings)
    with Session(engine) as session:
        before = metrics.campaign_funnel(session, settings, campaign_id)
        sent = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id,
                                                   Delivery.status == "sent")).first()
        assert sent is not None and sent.provider_sid
        apply_status(session, provider_sid=sent.provider_sid, provider_status="delivered", error_code=None,
                     at=utcnow())
        apply_status(session, provider_sid=sent.provider_sid, provider_status="delivered", error_code=None,
                     at=utcnow())
        session.commit()
        assert refresh_rollup(session, settings) >= 1
        after = metrics.campaign_funnel(session, settings, campaign_id)
    assert after["delivered"] == before["delivered"] + 1 and after["sent"] == before["sent"]
    assert after["targeted"] == before["targeted"]


def test_exports_open_and_match_the_metrics(engine: Engine, settings: Settings) -> None:
    campaign_id = _populate(engine, settings)
    with Session(engine) as session:
        funnel = metrics.campaign_funnel(session, settings, campaign_id)
        communes = metrics.commune_table(session, settings, campaign_id)
        sheets = exports.campaign_report(session, settings, campaign_id)
        period = exports.period_report(session, settings, metrics.Period())
        log = "".join(exports.delivery_log(session, campaign_id=campaign_id))
    book = load_workbook(io.BytesIO(exports.to_xlsx(sheets)))
    assert book.sheetnames == ["Tổng hợp", "Theo xã", "Lỗi gửi", "Theo ngày"]
    totals = list(book["Tổng hợp"].iter_rows(values_only=True))
    header = list(totals[0])
    assert "Đã đến máy" in header and "Chi phí ước tính" in header
    assert totals[1][header.index("Đã đến máy")] == funnel["delivered"]
    assert totals[1][header.index("Số người nhận dự kiến")] == funnel["targeted"]
    assert totals[1][header.index("Nhà mạng không báo trạng thái cuối")] == funnel["unknown"] > 0
    per_commune = list(book["Theo xã"].iter_rows(values_only=True))
    h = list(per_commune[0])
    assert {r[h.index("Mã xã")]: r[h.index("Đã gửi")] for r in per_commune[1:]} == \
        {c["commune_code"]: c["sent"] for c in communes}
    fails = list(book["Lỗi gửi"].iter_rows(values_only=True))
    assert sum(r[4] for r in fails[1:]) == funnel["failed"] + funnel["skipped"] + funnel["cancelled"]
    period_book = load_workbook(io.BytesIO(exports.to_xlsx(period)))
    camp_rows = list(period_book["Theo chiến dịch"].iter_rows(values_only=True))
    assert camp_rows[1][list(camp_rows[0]).index("Đã đến máy")] == funnel["delivered"]
    csv_text = exports.to_csv(sheets["Theo xã"])
    assert csv_text.startswith("\ufeffMã xã,Tên xã/phường")
    assert len(log.strip().splitlines()) == 1 + funnel["targeted"] and "+8498" in log


def test_the_scheduler_keeps_the_rollups_fresh_and_pages_never_wait(engine: Engine, settings: Settings) -> None:
    """The scheduler refreshes on its own; a page refreshes only when that is overdue, and on PostgreSQL
    never waits for a refresh another process is running."""
    from scheduler.service import SchedulerService

    campaign_id = _populate(engine, settings)
    with Session(engine) as session:
        delivered = metrics.campaign_funnel(session, settings, campaign_id)["delivered"]
        sent = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id,
                                                   Delivery.status == "sent")).first()
        assert sent is not None and sent.provider_sid
        apply_status(session, provider_sid=sent.provider_sid, provider_status="delivered", error_code=None,
                     at=utcnow())
        session.commit()
        assert ensure_recent(session, settings) == 0  # refreshed moments ago by _populate: not overdue
        session.commit()
    fast = settings.model_copy(update={"metrics_refresh_seconds": 0.2})
    service = SchedulerService(engine, fast)
    service.start()
    try:
        def caught_up() -> bool:
            with Session(engine) as session:
                return bool(metrics.campaign_funnel(session, settings, campaign_id)["delivered"] == delivered + 1)
        wait_until(caught_up, timeout=30)
    finally:
        service.stop()
    with Session(engine) as session:  # overdue: the page refreshes itself
        session.execute(update(RollupState).values(refreshed_at=utcnow() - timedelta(hours=1)))
        session.commit()
        assert ensure_recent(session, settings) >= 0
        session.commit()
        state = session.get(RollupState, "delivery")
        assert state is not None and (utcnow() - state.refreshed_at).total_seconds() < 60
    if engine.dialect.name != "postgresql":
        return
    with Session(engine) as session:
        session.execute(update(RollupState).values(refreshed_at=utcnow() - timedelta(hours=1)))
        session.commit()
    with Session(engine) as holder, Session(engine) as page:  # another process is refreshing right now
        holder.execute(select(RollupState).where(col(RollupState.name) == "delivery").with_for_update())
        page.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test, not hang it
        assert ensure_recent(page, settings) == 0
        holder.rollback()
