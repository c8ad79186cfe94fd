"""Campaign exports of a voice campaign: a "Cuộc gọi" sheet and the call totals, matching the simulated calls."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.campaigns.schemas import ContentIn
from broadcast.config import Settings
from broadcast.engagement import exports
from tests.support.seed import approved_campaign, seed_contacts, start
from tests.support.voice_calls import simulate_calls

VOICE_SCRIPT = "Thông báo: Luật Đất đai năm 2024 có hiệu lực từ ngày 1/8/2024."


def _row(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    return dict(zip(rows[0], rows[1], strict=True))


def test_voice_campaign_report_has_a_calls_sheet(engine: Engine, settings: Settings, client: Any) -> None:
    seed_contacts(engine, 15)
    campaign_id = approved_campaign(engine, channels=["voice"], sms_fallback_for_voice=True,
                                    contents=[ContentIn(channel="voice", body=VOICE_SCRIPT)])
    sms_only = approved_campaign(engine)
    start(engine, campaign_id)
    expected = simulate_calls(engine, campaign_id)
    with Session(engine) as session:
        sheets = exports.campaign_report(session, settings, campaign_id)
        plain = exports.campaign_report(session, settings, sms_only)
    assert list(plain) == ["Tổng hợp", "Theo xã", "Lỗi gửi", "Theo ngày"]  # no calls, no calls sheet
    assert "Số cuộc gọi đã thực hiện" not in plain["Tổng hợp"][0]
    book = load_workbook(io.BytesIO(exports.to_xlsx(sheets)))
    assert book.sheetnames == ["Tổng hợp", "Theo xã", "Lỗi gửi", "Theo ngày", "Cuộc gọi"]
    calls = _row(list(book["Cuộc gọi"].iter_rows(values_only=True)))
    assert calls["Số người cần gọi"] == expected.residents == 15
    assert calls["Số cuộc gọi đã thực hiện"] == expected.placed
    assert calls["Cuộc gọi được nghe máy"] == expected.answered
    assert calls["Trong đó hộp thư thoại"] == expected.machine
    assert calls["Không liên lạc được"] == expected.not_reached
    assert calls["Phần bản tin được nghe (trung bình)"] == pytest.approx(expected.share)
    assert (calls["Lượt bấm nghe lại"], calls["Yêu cầu gọi lại"], calls["Từ chối nhận cuộc gọi"],
            calls["SMS thay thế"]) == (expected.repeats, expected.callbacks, expected.opt_outs, expected.fallbacks)
    assert calls["Số phút gọi"] == pytest.approx(expected.minutes, abs=0.01)
    assert calls["Chi phí cuộc gọi ước tính"] == pytest.approx(expected.cost)
    totals = _row(list(book["Tổng hợp"].iter_rows(values_only=True)))
    assert totals["Số cuộc gọi đã thực hiện"] == expected.placed and totals["Yêu cầu gọi lại"] == 1
    # Over HTTP: the totals CSV carries the call figures, and the calls sheet has its own CSV.
    response = client.get(f"/api/v1/reports/campaigns/{campaign_id}.csv?sheet=totals")
    assert response.status_code == 200
    header, values = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert dict(zip(header, values, strict=True))["Cuộc gọi được nghe máy"] == str(expected.answered)
    per_call = client.get(f"/api/v1/reports/campaigns/{campaign_id}.csv?sheet=calls").content.decode("utf-8-sig")
    assert per_call.startswith("Số người cần gọi,Số cuộc gọi đã thực hiện")
    fallback = client.get(f"/api/v1/reports/campaigns/{sms_only}.csv?sheet=calls").content.decode("utf-8-sig")
    assert fallback.startswith("Mã chiến dịch,Tên chiến dịch")  # no calls: the totals instead
