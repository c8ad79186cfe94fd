"""Reports for officers (XLSX and CSV, Vietnamese headers) and the per-resident delivery log for audit."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.engagement import metrics
from broadcast.engagement.calls import voice_metrics
from broadcast.engagement.reasons import reason_label
from broadcast.outbox.models import Delivery
from broadcast.quiz import results as quiz_results
from broadcast.spreadsheet import append_row, csv_writer

CALLS_SHEET = "Cuộc gọi"
# (key in the metrics rows, Vietnamese column header)
TOTAL_COLUMNS: list[tuple[str, str]] = [
    ("targeted", "Số người nhận dự kiến"), ("sent", "Đã gửi"), ("delivered", "Đã đến máy"),
    ("failed", "Lỗi"), ("skipped", "Bỏ qua"), ("cancelled", "Đã huỷ"),
    ("unknown", "Nhà mạng không báo trạng thái cuối"), ("queued", "Đang chờ gửi"),
    ("delivery_rate", "Tỉ lệ đến máy"), ("replies", "Tin trả lời"), ("questions", "Câu hỏi"),
    ("answered", "Câu hỏi đã trả lời"), ("median_response_seconds", "Thời gian trả lời trung vị (giây)"),
    ("opt_outs", "Từ chối nhận tin"), ("unique_clicks", "Lượt mở liên kết (người)"),
    ("downloads", "Lượt tải âm thanh"), ("average_rating", "Điểm đánh giá trung bình"),
    ("airings_planned", "Lượt phát thanh dự kiến"), ("airings_confirmed", "Lượt phát thanh đã xác nhận"),
    ("segments", "Số tin (phân đoạn)"), ("estimated_cost", "Chi phí ước tính"),
]
COMMUNE_COLUMNS = [("commune_code", "Mã xã"), ("commune_name", "Tên xã/phường"), *TOTAL_COLUMNS]
CAMPAIGN_COLUMNS = [("campaign_id", "Mã chiến dịch"), ("title", "Tên chiến dịch"), *TOTAL_COLUMNS]
FAILURE_COLUMNS = [("commune_code", "Mã xã"), ("status", "Trạng thái"), ("error_code", "Mã lỗi"),
                   ("label", "Lý do"), ("count", "Số tin")]
DAY_COLUMNS = [("day", "Ngày"), ("sent", "Đã gửi"), ("delivered", "Đã đến máy"), ("failed", "Lỗi"),
               ("replies", "Tin trả lời"), ("unique_clicks", "Lượt mở liên kết")]
# Voice-call figures (broadcast/channels/voice/metrics.py); in the totals their keys get a "voice_" prefix.
VOICE_COLUMNS = [
    ("residents", "Số người cần gọi"), ("calls_placed", "Số cuộc gọi đã thực hiện"),
    ("answered", "Cuộc gọi được nghe máy"), ("answered_by_machine", "Trong đó hộp thư thoại"),
    ("answer_rate", "Tỉ lệ nghe máy"), ("not_reached", "Không liên lạc được"), ("in_progress", "Đang chờ gọi"),
    ("listened_share_avg", "Phần bản tin được nghe (trung bình)"), ("repeats", "Lượt bấm nghe lại"),
    ("callbacks_requested", "Yêu cầu gọi lại"), ("opt_outs", "Từ chối nhận cuộc gọi"),
    ("sms_fallbacks", "SMS thay thế"), ("call_minutes", "Số phút gọi"),
    ("cost_estimate", "Chi phí cuộc gọi ước tính"), ("price_per_minute", "Giá mỗi phút"),
]
VOICE_TOTAL_COLUMNS = [(f"voice_{key}", header) for key, header in VOICE_COLUMNS if key != "price_per_minute"]
QUIZ_SHEET, QUIZ_COMMUNE_SHEET, QUIZ_GROUP_SHEET, RANKING_SHEET = (
    "Câu hỏi", "Câu hỏi theo xã", "Câu hỏi theo nhóm", "Xếp hạng theo xã")
QUESTION_COLUMNS = [("number", "Câu"), ("text", "Câu hỏi"), ("answer", "Đáp án đúng"),
                    ("answered", "Số người trả lời"), ("correct", "Trả lời đúng"), ("correct_share", "Tỉ lệ đúng")]
QUIZ_FIGURES = [("participants", "Người tham gia"), ("completed", "Trả lời hết"), ("answers", "Số câu trả lời"),
                ("correct", "Câu trả lời đúng"), ("correct_share", "Tỉ lệ đúng")]
QUIZ_COMMUNE_COLUMNS = [("commune_code", "Mã xã"), ("commune_name", "Tên xã/phường"), *QUIZ_FIGURES]
QUIZ_GROUP_COLUMNS = [("group_id", "Mã nhóm"), ("group_name", "Tên nhóm"), *QUIZ_FIGURES]
RANKING_COLUMNS = [("commune_rank", "Hạng của xã"), ("commune_name", "Tên xã/phường"), ("rank", "Hạng trong xã"),
                   ("resident", "Người tham gia (ẩn số)"), ("correct", "Số câu đúng"), ("answered", "Số câu trả lời")]
LOG_HEADERS = ["Mã tin", "Mã chiến dịch", "Mã người dân", "Họ tên", "Số điện thoại", "Kênh", "Loại",
               "Trạng thái", "Mã lỗi", "Lý do", "Số lần thử", "Tạo lúc", "Gửi lúc", "Đến máy lúc", "Mã nhà mạng"]


def _table(rows: Sequence[dict[str, Any]], columns: list[tuple[str, str]]) -> list[list[Any]]:
    return [[h for _, h in columns]] + [[row.get(k) for k, _ in columns] for row in rows]



def campaign_report(session: Session, settings: Settings, campaign_id: int) -> dict[str, list[list[Any]]]:
    """Sheets of a campaign report: totals, per commune, failures with reasons, per day (and calls, if any)."""
    campaign = session.get(Campaign, campaign_id)
    title = campaign.title if campaign else ""
    funnel = {**metrics.campaign_funnel(session, settings, campaign_id), "title": title}
    calls = voice_metrics(session, settings, campaign_id) if campaign and "voice" in campaign.channels else None
    totals = CAMPAIGN_COLUMNS
    if calls is not None:
        funnel.update({f"voice_{key}": value for key, value in calls.items()})
        totals = CAMPAIGN_COLUMNS + VOICE_TOTAL_COLUMNS
    sheets = {
        "Tổng hợp": _table([funnel], totals),
        "Theo xã": _table(metrics.commune_table(session, settings, campaign_id), COMMUNE_COLUMNS),
        "Lỗi gửi": _table(metrics.failures(session, campaign_id), FAILURE_COLUMNS),
        "Theo ngày": _table(metrics.time_series(session, settings, campaign_id), DAY_COLUMNS),
    }
    if calls is not None:
        sheets[CALLS_SHEET] = _table([calls], VOICE_COLUMNS)
    if campaign is not None and campaign.quiz:
        sheets.update(quiz_sheets(session, campaign_id))
    return sheets


def quiz_sheets(session: Session, campaign_id: int) -> dict[str, list[list[Any]]]:
    """A quiz's results: per question, commune and group, and the ranking per commune (masked numbers only)."""
    found = quiz_results.full(session, campaign_id)
    ranking = [{"commune_rank": commune["rank"], "commune_name": commune["commune_name"] or commune["commune_code"],
                **best} for commune in found["ranking"] for best in commune["best"]]
    return {
        QUIZ_SHEET: _table(found["questions"], QUESTION_COLUMNS),
        QUIZ_COMMUNE_SHEET: _table(found["communes"], QUIZ_COMMUNE_COLUMNS),
        QUIZ_GROUP_SHEET: _table(found["groups"], QUIZ_GROUP_COLUMNS),
        RANKING_SHEET: _table(ranking, RANKING_COLUMNS),
    }


def period_report(session: Session, settings: Settings, period: metrics.Period) -> dict[str, list[list[Any]]]:
    """Sheets of a period report: per campaign, per commune, failures with reasons, per day."""
    by_campaign = metrics.campaign_table(session, settings, period)
    titles = dict(session.execute(select(col(Campaign.id), col(Campaign.title))).all())
    for row in by_campaign:
        row["title"] = titles.get(row["campaign_id"], "")
    return {
        "Theo chiến dịch": _table(by_campaign, CAMPAIGN_COLUMNS),
        "Theo xã": _table(metrics.commune_table(session, settings, None, period), COMMUNE_COLUMNS),
        "Lỗi gửi": _table(metrics.failures(session, None, period), FAILURE_COLUMNS),
        "Theo ngày": _table(metrics.time_series(session, settings, None, period), DAY_COLUMNS),
    }


def to_xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    """An XLSX workbook with one sheet per table, bold headers and frozen header row (text never a formula)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name[:31])
        for row in rows:
            append_row(sheet, row)
        if rows:
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            sheet.freeze_panes = "A2"
            for idx, header in enumerate(rows[0], start=1):
                sheet.column_dimensions[sheet.cell(1, idx).column_letter].width = max(10, min(40, len(str(header)) + 2))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def to_csv(rows: list[list[Any]]) -> str:
    """CSV with a BOM so Excel opens Vietnamese text correctly (text cells never formulas)."""
    out = io.StringIO()
    out.write("\ufeff")
    csv_writer(out).writerows(rows)
    return out.getvalue()


def delivery_log(session: Session, *, campaign_id: int | None = None, contact_id: int | None = None,
                 chunk: int = 5000) -> Iterator[str]:
    """CSV lines of every delivery (with full phone numbers) for audit; streamed in id order."""
    head = io.StringIO()
    head.write("\ufeff")
    csv_writer(head).writerow(LOG_HEADERS)
    yield head.getvalue()
    last = 0
    while True:
        query = (select(Delivery, Contact.full_name).outerjoin(Contact, col(Contact.id) == col(Delivery.contact_id))
                 .where(col(Delivery.id) > last).order_by(col(Delivery.id)).limit(chunk))
        if campaign_id is not None:
            query = query.where(col(Delivery.campaign_id) == campaign_id)
        if contact_id is not None:
            query = query.where(col(Delivery.contact_id) == contact_id)
        rows = session.exec(query).all()
        if not rows:
            return
        out = io.StringIO()
        writer = csv_writer(out)
        for d, name in rows:
            reason = reason_label(d.status, d.error_code, d.error_message or "") if d.status in (
                "failed", "undelivered", "skipped", "cancelled", "unknown") else ""
            writer.writerow([d.id, d.campaign_id or "", d.contact_id or "", name or "", d.to_phone or "", d.channel,
                             d.kind, d.status, d.error_code or "", reason, d.attempts, _iso(d.created_at),
                             _iso(d.sent_at), _iso(d.delivered_at), d.provider_sid or ""])
        yield out.getvalue()
        last = rows[-1][0].id or last


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""
