"""JSON routes: metrics, report downloads, the audit delivery log and data-subject requests.

Mounted for staff in broadcast/api/__init__.py; the routes below that expose full phone numbers (the audit
delivery log and every data-subject request) are admin-only, route by route.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from broadcast.accounts.deps import CurrentUser, require
from broadcast.accounts.models import Role
from broadcast.api.campaigns import QuizFiguresOut
from broadcast.bounds import DbId, PhoneInput, ReportDay
from broadcast.campaigns.service import get_campaign
from broadcast.deps import EngineDep, SessionDep, SettingsDep
from broadcast.engagement import exports, metrics, subjects
from broadcast.engagement.rollup import ensure_recent, freshness, refresh_rollup
from broadcast.exceptions import file_response
from broadcast.quiz import results as quiz_results

router = APIRouter(tags=["metrics"])
ADMIN = [Depends(require(Role.admin))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


class PhoneIn(BaseModel):
    phone: PhoneInput


class Figures(BaseModel):
    """One row of a metrics table (see engagement/metrics.py Counts)."""

    targeted: int
    queued: int
    sent: int
    delivered: int
    failed: int
    skipped: int
    cancelled: int
    unknown: int = Field(description="accepted by the provider, final state never reported (part of sent)")
    segments: int
    replies: int
    questions: int
    answered: int
    opt_outs: int
    unique_clicks: int
    downloads: int
    ratings: int
    airings_planned: int
    airings_confirmed: int
    delivery_rate: float | None = Field(description="delivered / sent")
    median_response_seconds: float | None
    average_rating: float | None
    estimated_cost: float = Field(description="segments × SMS_PRICE_PER_SEGMENT")


class FunnelOut(Figures):
    campaign_id: int
    as_of: datetime | None = Field(description="when the rollup was last brought up to date")


class CommuneFigures(Figures):
    commune_code: str | None
    commune_name: str


class GroupFigures(Figures):
    group_id: int


class ChannelFigures(Figures):
    channel: str


class CampaignFigures(Figures):
    campaign_id: int | None


class FailureRow(BaseModel):
    commune_code: str | None
    status: str
    error_code: int | None
    reason: str | None
    label: str = Field(description="the reason in words officers understand")
    count: int


class DayFigures(BaseModel):
    day: str = Field(description="local date YYYY-MM-DD")
    sent: int
    delivered: int
    failed: int
    replies: int
    unique_clicks: int


class PeriodOut(BaseModel):
    campaigns: list[CampaignFigures]
    communes: list[CommuneFigures]


class RefreshOut(BaseModel):
    runs_recomputed: int
    as_of: datetime | None


class SubjectOut(BaseModel):
    """Everything held about a number, table by table (rows as stored: the law asks for all of it)."""

    phone: str
    generated_at: str
    contacts: list[dict[str, Any]]
    groups: list[str]
    tags: list[str]
    consent_events: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]
    delivery_attempts: list[dict[str, Any]]
    inbound_messages: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    engagement_events: list[dict[str, Any]]


def _fresh(session: SessionDep, settings: SettingsDep) -> None:
    ensure_recent(session, settings)


def _attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/metrics/refresh", summary="Bring the delivery rollup up to date now", response_model=RefreshOut)
def refresh(session: SessionDep, settings: SettingsDep) -> RefreshOut:
    runs = refresh_rollup(session, settings)
    return RefreshOut(runs_recomputed=runs, as_of=freshness(session))


@router.get("/metrics/campaigns/{campaign_id}", summary="Campaign funnel and totals", response_model=FunnelOut)
def funnel(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> FunnelOut:
    _fresh(session, settings)
    return FunnelOut.model_validate({**metrics.campaign_funnel(session, settings, campaign_id),
                                     "as_of": freshness(session)})


@router.get("/metrics/campaigns/{campaign_id}/communes", response_model=list[CommuneFigures])
def communes(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> list[CommuneFigures]:
    _fresh(session, settings)
    return [CommuneFigures.model_validate(row) for row in metrics.commune_table(session, settings, campaign_id)]


@router.get("/metrics/campaigns/{campaign_id}/groups", response_model=list[GroupFigures])
def groups(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> list[GroupFigures]:
    return [GroupFigures.model_validate(row) for row in metrics.group_table(session, settings, campaign_id)]


@router.get("/metrics/campaigns/{campaign_id}/quiz", response_model=QuizFiguresOut,
            summary="Quiz results per question, commune and group, and the anonymised ranking per commune")
def quiz(campaign_id: DbId, session: SessionDep) -> QuizFiguresOut:
    get_campaign(session, campaign_id)
    return QuizFiguresOut.model_validate(quiz_results.full(session, campaign_id))


@router.get("/metrics/campaigns/{campaign_id}/channels", response_model=list[ChannelFigures])
def channels(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> list[ChannelFigures]:
    _fresh(session, settings)
    return [ChannelFigures.model_validate(row) for row in metrics.channel_table(session, settings, campaign_id)]


@router.get("/metrics/campaigns/{campaign_id}/failures", response_model=list[FailureRow])
def failures(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> list[FailureRow]:
    _fresh(session, settings)
    return [FailureRow.model_validate(row) for row in metrics.failures(session, campaign_id)]


@router.get("/metrics/timeseries", summary="Per-day figures for charts (optionally one campaign)",
            response_model=list[DayFigures])
def timeseries(session: SessionDep, settings: SettingsDep, campaign_id: DbId | None = None,
               start: ReportDay | None = None, end: ReportDay | None = None) -> list[DayFigures]:
    _fresh(session, settings)
    rows = metrics.time_series(session, settings, campaign_id, metrics.Period(start, end))
    return [DayFigures.model_validate(row) for row in rows]


@router.get("/metrics/period", summary="Per-campaign and per-commune figures over a period",
            response_model=PeriodOut)
def period(session: SessionDep, settings: SettingsDep, start: ReportDay | None = None,
           end: ReportDay | None = None) -> PeriodOut:
    _fresh(session, settings)
    span = metrics.Period(start, end)
    return PeriodOut.model_validate({"campaigns": metrics.campaign_table(session, settings, span),
                                     "communes": metrics.commune_table(session, settings, None, span)})


@router.get("/reports/campaigns/{campaign_id}.xlsx", summary="Campaign report (XLSX)", response_class=Response,
            responses=file_response(XLSX, "The workbook"))
def campaign_xlsx(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> Response:
    _fresh(session, settings)
    body = exports.to_xlsx(exports.campaign_report(session, settings, campaign_id))
    return _attachment(body, XLSX, f"bao-cao-chien-dich-{campaign_id}.xlsx")


@router.get("/reports/campaigns/{campaign_id}.csv", summary="Campaign report per commune (CSV)",
            response_class=Response, responses=file_response(CSV, "One sheet of the report"))
def campaign_csv(campaign_id: DbId, session: SessionDep, settings: SettingsDep,
                 sheet: Literal["communes", "failures", "totals", "days", "calls", "quiz"] = "communes") -> Response:
    _fresh(session, settings)
    sheets = exports.campaign_report(session, settings, campaign_id)
    names = {"communes": "Theo xã", "failures": "Lỗi gửi", "totals": "Tổng hợp", "days": "Theo ngày",
             "calls": exports.CALLS_SHEET, "quiz": exports.QUIZ_SHEET}
    name = names[sheet]
    if name not in sheets:  # a campaign without calls (or a quiz) has no such sheet
        name = "Tổng hợp"
    return _attachment(exports.to_csv(sheets[name]), CSV,
                       f"bao-cao-chien-dich-{campaign_id}-{sheet}.csv")


@router.get("/reports/period.xlsx", summary="Period report (XLSX)", response_class=Response,
            responses=file_response(XLSX, "The workbook"))
def period_xlsx(session: SessionDep, settings: SettingsDep, start: ReportDay | None = None,
                end: ReportDay | None = None) -> Response:
    _fresh(session, settings)
    body = exports.to_xlsx(exports.period_report(session, settings, metrics.Period(start, end)))
    return _attachment(body, XLSX, f"bao-cao-{start or 'dau'}-{end or 'nay'}.xlsx")


@router.get("/reports/period.csv", summary="Period report per commune (CSV)", response_class=Response,
            responses=file_response(CSV, "The report per commune"))
def period_csv(session: SessionDep, settings: SettingsDep, start: ReportDay | None = None,
               end: ReportDay | None = None) -> Response:
    _fresh(session, settings)
    sheets = exports.period_report(session, settings, metrics.Period(start, end))
    return _attachment(exports.to_csv(sheets["Theo xã"]), CSV,
                       f"bao-cao-{start or 'dau'}-{end or 'nay'}.csv")


@router.get("/reports/delivery-log.csv", summary="Every delivery with full phone numbers, for audit (admin)",
            response_class=Response, responses=file_response(CSV, "One row per delivery"),
            dependencies=ADMIN)
def delivery_log(engine: EngineDep, campaign_id: DbId | None = None, contact_id: DbId | None = None) -> Response:
    def lines() -> Iterator[str]:  # a session of its own: the request's is closed before the body streams
        with Session(engine) as session:
            yield from exports.delivery_log(session, campaign_id=campaign_id, contact_id=contact_id)

    return StreamingResponse(lines(),
                             media_type=CSV,
                             headers={"Content-Disposition": 'attachment; filename="nhat-ky-gui-tin.csv"'})


@router.post("/data-subjects/lookup", summary="Everything held about a phone number (admin)", dependencies=ADMIN,
             response_model=SubjectOut)
def subject_lookup(data: PhoneIn, session: SessionDep) -> SubjectOut:
    return SubjectOut.model_validate(subjects.find_subject(session, data.phone))


@router.post("/data-subjects/export", summary="The same as a JSON download (admin)", dependencies=ADMIN,
             response_class=Response, responses=file_response("application/json", "Everything held, as a file"))
def subject_export(data: PhoneIn, session: SessionDep) -> Response:
    import json

    body = json.dumps(subjects.find_subject(session, data.phone), ensure_ascii=False, indent=2, default=str)
    return _attachment(body, "application/json", "du-lieu-ca-nhan.json")


@router.post("/data-subjects/erase", summary="Erase/anonymise a phone number everywhere (admin)", dependencies=ADMIN)
def subject_erase(data: PhoneIn, session: SessionDep, user: CurrentUser) -> dict[str, int]:
    return subjects.erase_subject(session, data.phone, actor_id=user.id, actor=user.username)
