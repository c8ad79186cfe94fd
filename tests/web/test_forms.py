"""CSRF on every form, login rate limiting, the import steps, composing and approving through the pages."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.campaigns.models import Campaign
from broadcast.contacts.models import Contact
from broadcast.web import i18n
from tests.web.conftest import Seeded, csrf_of, login


def test_posts_without_the_csrf_token_are_refused(anonymous_client: Any, seeded: Seeded) -> None:
    # Even the login form: a page elsewhere cannot sign a visitor in (login CSRF).
    refused = anonymous_client.post("/login", data={"username": "officer", "password": "officer-mat-khau"})
    assert refused.status_code == 403 and "hết hạn" in refused.text
    login(anonymous_client, "officer")
    for path in ("/campaigns/new", f"/campaigns/{seeded.campaign_id}/start", "/logout", "/residents/import/confirm"):
        assert anonymous_client.post(path, data={"title": "x"}).status_code == 403, path
        assert anonymous_client.post(path, data={"title": "x", "csrf_token": "forged" * 8}).status_code == 403, path
    assert anonymous_client.post("/ui/sms/estimate", json={"text": "Xin chào"}).status_code == 403
    token = csrf_of(anonymous_client, "/residents")
    ok = anonymous_client.post("/ui/sms/estimate", json={"text": "Luật Đất đai"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json()["as_typed"]["encoding"] == "UCS-2"
    assert ok.json()["stripped"]["text"] == "Luat Dat dai" and ok.json()["stripped"]["encoding"] == "GSM-7"
    # Nothing was started by the forged posts.
    assert anonymous_client.get(f"/ui/progress?ids={seeded.campaign_id}").json()[str(seeded.campaign_id)]["total"] == 0


def test_json_api_with_a_bearer_token_needs_no_csrf(client: Any) -> None:
    response = client.post("/api/v1/sms/estimate", json={"text": "Xin chào"})
    assert response.status_code == 200 and response.json()["segments"] == 1


def _age_login_failures(engine: Engine, minutes: int) -> None:
    """Move recorded failures back in time (the limiter's window slides over the database's rows)."""
    from sqlalchemy import update

    from broadcast.accounts.models import LoginFailure

    with Session(engine) as session:
        for row in session.exec(select(LoginFailure)).all():
            session.execute(update(LoginFailure).where(LoginFailure.id == row.id)  # type: ignore[arg-type]
                            .values(at=row.at - timedelta(minutes=minutes)))
        session.commit()


def test_login_is_rate_limited_per_username_and_address(anonymous_client: Any, seeded: Seeded,
                                                        engine: Engine) -> None:
    for _ in range(5):
        response = login(anonymous_client, "officer", "sai-mat-khau")
        assert response.status_code == 401 and "không đúng" in response.text
    locked = login(anonymous_client, "officer")  # the right password is refused too while locked
    assert locked.status_code == 429 and "thử lại sau 15 phút" in locked.text
    assert login(anonymous_client, "approver").status_code == 303  # other usernames are not affected
    _age_login_failures(engine, 15)
    assert login(anonymous_client, "officer").status_code == 303


def test_login_limit_is_shared_by_every_web_process(settings: Any, seeded: Seeded) -> None:
    """Failures counted by one app instance (one process behind the proxy) lock the others too."""
    from fastapi.testclient import TestClient

    from broadcast.app import create_app

    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        for client in (first, second, first, second, first):
            assert login(client, "officer", "sai-mat-khau").status_code == 401
        assert login(second, "officer").status_code == 429
        assert login(first, "officer").status_code == 429


def test_many_usernames_from_one_address_are_limited_too(anonymous_client: Any, seeded: Seeded) -> None:
    from broadcast.accounts.limits import MAX_ADDRESS_FAILURES

    for n in range(MAX_ADDRESS_FAILURES):
        assert login(anonymous_client, f"khong-co-{n}", "sai-mat-khau").status_code == 401
    assert login(anonymous_client, "officer").status_code == 429


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_import_shows_the_mapping_then_reports_bad_rows(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    login(anonymous_client, "officer")
    token = csrf_of(anonymous_client, "/residents/import")
    data = xlsx([["DANH SÁCH NGƯỜI DÂN XÃ ĐẤT MŨI"], ["Họ và tên", "SĐT", "Xã/Phường", "Cột lạ"],
                 ["Trần Thị Mai", "0912 345 678", "Xã Đất Mũi", "x"], ["Lê Văn Sai", "12345", "Xã Đất Mũi", ""],
                 ["Phạm Văn Bình", "+84 98 765 4321", "Đất Mũi", ""]])
    preview = anonymous_client.post("/residents/import", data={"csrf_token": token},
                                    files={"file": ("danh-sach.xlsx", data, "application/octet-stream")})
    assert preview.status_code == 200
    mapping = preview.text.split('id="mapping"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"Số điện thoại</td><td>SĐT", mapping) and re.search(r"Họ tên</td><td>Họ và tên", mapping)
    assert "Cột lạ" in preview.text and "Trần Thị Mai" in preview.text
    with Session(engine) as session:
        assert session.exec(select(Contact).where(Contact.full_name == "Trần Thị Mai")).first() is None
    report = anonymous_client.post("/residents/import/confirm", data={"csrf_token": token})
    assert report.status_code == 200
    bad = report.text.split('id="bad-rows"', 1)[1].split("</table>", 1)[0]
    assert "<td>4</td><td>SĐT</td><td>12345</td>" in bad  # row number as Excel shows it, the column, the value
    assert re.search(r'id="created">2<', report.text) and re.search(r'id="errors">1<', report.text)
    csv_link = re.search(r'href="(/residents/import/\w+/bad-rows.csv)"', report.text)
    assert csv_link and "12345" in anonymous_client.get(csv_link.group(1)).content.decode("utf-8-sig")
    with Session(engine) as session:
        assert session.exec(select(Contact).where(Contact.phone == "+84912345678")).one().full_name == "Trần Thị Mai"
    # The pending upload is gone: confirming again imports nothing twice.
    again = anonymous_client.post("/residents/import/confirm", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303


def test_compose_submit_and_self_approval_is_refused(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    login(anonymous_client, "admin")  # an admin may both write and approve, but not their own campaign
    token = csrf_of(anonymous_client, "/campaigns/new")
    form = {"csrf_token": token, "title": "Luật Đất đai 2024", "channels": ["sms"], "action": "submit",
            "sms_text": "Luật Đất đai 2024 có hiệu lực từ 01/8/2024.", "communes": ["32248"],
            "schedule_kind": "none", "bulletin_level": "normal"}
    created = anonymous_client.post("/campaigns/new", data=form, follow_redirects=False)
    assert created.status_code == 303
    campaign_id = int(created.headers["location"].rsplit("/", 1)[1])
    queue = anonymous_client.get("/approvals").text
    assert "Luật Đất đai 2024 có hiệu lực" in queue and "12</strong>" in queue  # content and reachable residents
    refused = anonymous_client.post(f"/campaigns/{campaign_id}/approve", data={"csrf_token": token})
    assert "Người soạn không được tự phê duyệt" in refused.text
    with Session(engine) as session:
        assert session.get(Campaign, campaign_id).status == "pending_approval"  # type: ignore[union-attr]
    anonymous_client.post("/logout", data={"csrf_token": token})
    login(anonymous_client, "approver")
    token = csrf_of(anonymous_client, "/approvals")
    returned = anonymous_client.post(f"/campaigns/{campaign_id}/reject", data={"csrf_token": token, "comment": ""})
    assert "Hãy ghi lý do trả lại" in returned.text
    anonymous_client.post(f"/campaigns/{campaign_id}/approve", data={"csrf_token": token, "comment": "Đồng ý"})
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.status == "approved" and campaign.review_comment == "Đồng ý"


def test_composer_errors_keep_what_was_typed(anonymous_client: Any, seeded: Seeded) -> None:
    login(anonymous_client, "officer")
    token = csrf_of(anonymous_client, "/campaigns/new")
    page = anonymous_client.post("/campaigns/new", data={
        "csrf_token": token, "title": "Lịch sai", "channels": ["sms"], "sms_text": "Nội dung giữ lại",
        "schedule_kind": "once", "schedule_at": "2001-01-01T08:00", "action": "save"})
    assert page.status_code == 422 and "đã qua" in page.text and "Nội dung giữ lại" in page.text


def test_english_switch(anonymous_client: Any, seeded: Seeded) -> None:
    login(anonymous_client, "officer")
    assert "Danh sách người dân" in anonymous_client.get("/residents").text
    anonymous_client.get("/lang/en?next=/residents")
    page = anonymous_client.get("/residents").text
    assert "Residents" in page and '<html lang="en">' in page and "Danh sách người dân" not in page


def test_every_catalogue_key_used_exists_in_both_languages() -> None:
    root = Path(i18n.__file__).parent
    sources = [p.read_text(encoding="utf-8") for p in [*root.glob("templates/*.html"), *root.glob("*.py")]]
    used = set()
    for text in sources:
        used |= set(re.findall(r"""\bt\((?:request, )?['"]([a-z_]+\.[a-z_.0-9]*[a-z0-9])['"]""", text))
        used |= set(re.findall(r'"(nav\.[a-z_]+)"', text))
    prefixes = {p for text in sources for p in re.findall(r"""['"]([a-z_]+\.)['"] ~""", text)}
    vi, en = i18n.catalogue("vi"), i18n.catalogue("en")
    assert used and prefixes
    assert sorted(used - set(vi)) == [] and sorted(used - set(en)) == []
    assert set(vi) == set(en)
    for prefix in prefixes:  # dynamic keys ('status.' ~ campaign.status) have entries
        assert any(k.startswith(prefix) for k in vi), prefix
    for key in vi:  # the same placeholders in both languages
        assert re.findall(r"{(\w+)}", vi[key]) == re.findall(r"{(\w+)}", en[key]), key
    assert json.loads((root / "locales" / "vi.json").read_text(encoding="utf-8")) == vi


def test_vietnamese_number_and_date_formats() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    assert i18n.fmt_number(1234567) == "1.234.567" and i18n.fmt_number(1234567, "en") == "1,234,567"
    assert i18n.fmt_number(0.0835, "vi", 4) == "0,0835" and i18n.fmt_percent(39, 40) == "97,5 %"
    moment = datetime(2025, 12, 31, 17, 30, tzinfo=UTC)
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    assert i18n.fmt_datetime(moment, zone) == "00:30 01/01/2026" and i18n.fmt_date(moment, zone) == "01/01/2026"


@pytest.mark.parametrize("trusted", [False, True])
def test_the_limiter_keys_on_the_address_the_configured_proxy_reports(settings: Any, seeded: Seeded,
                                                                      trusted: bool) -> None:
    """X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS: a client cannot pick a new address per guess."""
    import httpx

    from broadcast.app import create_app
    from broadcast.runtime import proxy_options
    from broadcast.simulators.threaded import serve_in_thread

    configured = settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1" if trusted else ""})
    server = serve_in_thread(create_app(configured), "127.0.0.1", 0, name="web", lifespan="on",
                             **proxy_options(configured))
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as browser:
            statuses = []
            for n in range(6):
                token = csrf_of(browser)
                statuses.append(browser.post("/login", headers={"X-Forwarded-For": f"203.0.113.{n}"}, data={
                    "username": "officer", "password": "sai-mat-khau", "csrf_token": token}).status_code)
    finally:
        server.stop()
    # Behind a trusted proxy each forwarded address is its own client; otherwise the header is ignored.
    assert statuses == ([401] * 6 if trusted else [401] * 5 + [429])


def test_a_script_over_the_normaliser_cap_is_refused_by_the_page_and_the_api(
    anonymous_client: Any, seeded: Seeded, engine: Any
) -> None:
    """20,000 characters are read (linear: long digit runs in one pass); one more is a 422 naming the field."""
    from broadcast.audio.text.normalize import MAX_TEXT_CHARS
    from tests.conftest import make_user

    login(anonymous_client, "officer")
    token = csrf_of(anonymous_client, "/residents")
    digits = "9" * MAX_TEXT_CHARS
    page = anonymous_client.post("/ui/audio/normalize", json={"text": digits}, headers={"X-CSRF-Token": token})
    assert page.status_code == 200 and page.json()["text"] == " ".join(["chín"] * MAX_TEXT_CHARS)
    refused = anonymous_client.post("/ui/audio/normalize", json={"text": digits + "9"},
                                    headers={"X-CSRF-Token": token})
    assert refused.status_code == 422 and refused.json()["field"] == "text"
    bearer = {"Authorization": f"Bearer {make_user(engine, 'officer')}"}
    api = anonymous_client.post("/api/v1/audio/normalize", json={"text": digits + "9"}, headers=bearer)
    assert api.status_code == 422 and api.json()["field"] == "text" and str(MAX_TEXT_CHARS) in api.json()["message"]
