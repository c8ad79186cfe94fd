"""Each role's main journey in a real browser (headless Chromium) against the app served on loopback.

An officer imports residents from an XLSX file, composes a campaign (live SMS counter, audience count, audio
preview), sends a test to their phone and submits it; an approver approves it; the officer starts it and
watches it reach the Twilio simulator; a resident's question lands in the inbox and is answered; the commune's
radio operator, on a 360-px phone screen, plays, downloads and confirms the bulletin.
Set WEB_SCREENSHOTS=docs/screenshots to also save the main pages for the README.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.accounts import service as accounts
from broadcast.audio.models import Airing
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.engagement.rollup import refresh_rollup
from broadcast.simulators.twilio import TwilioSimulator
from tests.engagement.conftest import inbound_params, signature
from tests.support.http import loopback
from tests.support.seed import seed_communes, wait_until
from tests.web.conftest import password_of

OFFICER_PHONE = "+84911000111"
RESIDENTS = [("Trần Thị Mai", "0912 345 678"), ("Lê Văn Hùng", "0987654321"), ("Thạch Sô Phi", "+84 97 111 2233")]
SMS = "UBND xã Đất Mũi: Luật Đất đai 2024 có hiệu lực từ ngày 01/8/2024. Hỏi đáp: nhắn tin lại số này."
SCRIPT = "Thông báo của Ủy ban nhân dân xã Đất Mũi. Luật Đất đai 2024 có hiệu lực từ ngày 01/8/2024."


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("WEB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, username: str, path: str = "/") -> None:
    page.goto(base + path)
    assert "/login" in page.url  # pages need a session: the login form remembers where we were going
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password_of(username))
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def refresh_metrics(engine: Engine, settings: Settings) -> None:
    with Session(engine) as session:
        refresh_rollup(session, settings)
        session.commit()


def xlsx_file(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["Họ và tên", "Số điện thoại", "Xã/Phường", "Nhóm"])
    for name, phone in RESIDENTS:
        sheet.append([name, phone, "Xã Đất Mũi", "Ngư dân"])
    sheet.append(["Số sai", "0123", "Xã Đất Mũi", ""])  # row 5: not a mobile number
    book.save(path)
    return path


def officer_imports_and_composes(page: Any, base: str, tmp_path: Path) -> int:
    sign_in(page, base, "officer", "/residents")
    page.get_by_role("link", name="Nhập từ tệp Excel/CSV").click()
    page.get_by_label("Tệp danh sách").set_input_files(str(xlsx_file(tmp_path / "danh-sach.xlsx")))
    page.get_by_role("button", name="Tải lên và xem trước").click()
    mapping = page.locator("#mapping")
    assert "Số điện thoại" in mapping.inner_text() and "Trần Thị Mai" in page.locator("#preview-rows").inner_text()
    page.get_by_role("button", name="Xác nhận nhập").click()
    assert page.locator("#created").inner_text() == "3"
    bad = page.locator("#bad-rows").inner_text()
    assert "5" in bad and "Số điện thoại" in bad and "0123" in bad
    page.get_by_role("link", name="Xem danh sách người dân").click()
    assert "Thạch Sô Phi" in page.content()
    shot(page, "residents")

    page.get_by_role("link", name="Soạn tin mới").click()
    page.get_by_label("Tiêu đề").fill("Luật Đất đai 2024")
    page.get_by_label("Loa truyền thanh").check()
    page.get_by_label("Nội dung tin nhắn SMS").fill(SMS)
    typed = page.locator('#sms-stats [data-version="as_typed"]')
    page.wait_for_function("document.querySelector('#sms-stats [data-e=encoding]').textContent === 'UCS-2'")
    assert typed.locator('[data-e="segments"]').inner_text() == "2"
    stripped = page.locator('#sms-stats [data-version="stripped"]')
    assert stripped.locator('[data-e="encoding"]').inner_text() == "GSM-7"
    assert stripped.locator('[data-e="segments"]').inner_text() == "1"
    assert "Luat Dat dai 2024" in page.locator("#sms-stripped").inner_text()
    page.get_by_label("Gửi không dấu (ít tin hơn, rẻ hơn)").check()
    page.get_by_label("Kịch bản đọc trên loa").fill(SCRIPT)
    page.wait_for_function("document.querySelector('#script-normalized').textContent.includes('tháng tám')")
    page.get_by_label("Xã Đất Mũi").check()
    page.wait_for_function("document.querySelector('#reach [data-e=reachable]').textContent === '3'")
    assert "Asia/Ho_Chi_Minh" in page.content()
    shot(page, "composer")
    page.get_by_role("button", name="Lưu nháp", exact=True).click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/edit$"))
    campaign_id = int(page.url.rsplit("/", 2)[1])
    page.get_by_role("button", name="Tạo/cập nhật bản đọc từ kịch bản đã lưu").click()
    page.locator("#clips audio").wait_for(timeout=60_000)  # rendered offline by espeak-ng: the play button
    assert page.locator("#to").input_value() == OFFICER_PHONE
    page.get_by_role("button", name="Gửi thử", exact=True).click()
    assert "Đã xếp tin thử gửi đến" in page.content()
    page.get_by_role("button", name="Lưu và trình phê duyệt").click()
    page.wait_for_url(f"{base}/campaigns/{campaign_id}")
    assert page.locator("#campaign-status").inner_text() == "Chờ phê duyệt"
    return campaign_id


def approver_approves(page: Any, base: str, campaign_id: int) -> None:
    sign_in(page, base, "approver", "/approvals")
    review = page.locator(f"article[aria-labelledby='review-{campaign_id}']")
    assert "Luat Dat dai 2024" in review.inner_text() and "Xã Đất Mũi" in review.inner_text()
    shot(page, "approvals")
    review.get_by_label("Ý kiến (bắt buộc khi trả lại)").fill("Đồng ý phát hành")
    review.get_by_role("button", name="Phê duyệt").click()
    assert "Đã phê duyệt" in page.locator(".flash-ok").inner_text()


def radio_operator_airs(page: Any, base: str, engine: Engine) -> None:
    sign_in(page, base, "daixa")
    assert page.url == f"{base}/radio"
    deadline_ok = False
    for _ in range(60):  # the approved bulletin's clip is ready (it was rendered from the composer)
        if page.locator(".clip audio").count():
            deadline_ok = True
            break
        page.wait_for_timeout(500)
        page.reload()
    assert deadline_ok, "no clip on the radio page"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling on a phone
    page.evaluate("document.querySelector('.clip audio').play()")
    page.wait_for_function("document.querySelector('.clip audio').currentTime > 0")
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải về (MP3)").first.click()
    data = Path(download.value.path()).read_bytes()
    assert len(data) > 2000 and (data[:3] == b"ID3" or data[0] == 0xFF)
    assert "/feeds/" in page.locator(".feed input").input_value()
    shot(page, "radio-360px")
    page.get_by_role("button", name="Đã phát").first.click()
    assert "Đã ghi nhận" in page.locator(".flash-ok").inner_text()
    assert page.locator(".confirmed").count() == 1
    with Session(engine) as session:
        airing = session.exec(select(Airing)).one()
        assert airing.confirmed_at is not None and airing.confirmation_source == "web"


def test_import_compose_approve_send_answer_and_air(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    new_page: Callable[..., Any], tmp_path: Path,
) -> None:
    seed_communes(live_engine)
    with Session(live_engine) as session:
        accounts.create_user(session, username="officer", password=password_of("officer"), role="officer",
                             full_name="Nguyễn Văn Cán Bộ", phone=OFFICER_PHONE)
        accounts.create_user(session, username="approver", password=password_of("approver"), role="approver",
                             full_name="Lê Thị Lãnh Đạo")
        accounts.create_user(session, username="daixa", password=password_of("daixa"), role="radio_operator",
                             communes=["32248"], full_name="Đài xã Đất Mũi")
        session.commit()
    base = live_app
    officer = new_page()
    campaign_id = officer_imports_and_composes(officer, base, tmp_path)
    approver_approves(new_page(), base, campaign_id)

    stop = Dispatcher(live_engine, live_settings, TwilioSmsChannel(live_settings, api_base_url=sim.base_url)).start()
    try:
        officer.goto(f"{base}/campaigns/{campaign_id}")
        officer.get_by_role("button", name="Bắt đầu gửi").click()
        # The page's own polling shows the deliveries arriving (no reload).
        officer.wait_for_function("document.querySelector('[data-progress] [data-f=delivered]').textContent === '3'",
                                  timeout=60_000)
        sent = {m.to: m.body for m in sim.messages}
        assert sent[OFFICER_PHONE].startswith("UBND xa Dat Mui")  # the test message, without diacritics too
        assert {"+84912345678", "+84987654321", "+84971112233"} <= set(sent)
        refresh_metrics(live_engine, live_settings)  # the page's figures are aggregated every 30 s
        officer.reload()
        assert "Xã Đất Mũi" in officer.locator("#commune-table").inner_text()
        shot(officer, "campaign")

        params = inbound_params("+84987654321", "Cho hỏi thủ tục cấp sổ đỏ cần giấy tờ gì?")
        path = "/webhooks/twilio/sms"
        assert loopback.post(base + path, data=params,
                          headers={"X-Twilio-Signature": signature(live_settings, path, params)}).status_code == 200
        officer.goto(base + "/inbox")
        officer.locator("#conversations a").first.click()
        assert "sổ đỏ" in officer.content()
        officer.get_by_label("Trả lời bằng SMS").fill("Chào anh, mang CCCD và giấy tờ đất đến bộ phận một cửa xã.")
        officer.wait_for_function("document.querySelector('#sms-stats [data-e=segments]').textContent === '1'")
        shot(officer, "inbox")
        officer.get_by_role("button", name="Gửi trả lời").click()
        assert "Đã xếp tin trả lời" in officer.content()
        wait_until(lambda: any(m.to == "+84987654321" and "CCCD" in m.body for m in sim.messages), timeout=30)
        refresh_metrics(live_engine, live_settings)
        officer.goto(base + "/")
        assert "sổ đỏ" in officer.content() and "Luật Đất đai 2024" in officer.content()
        shot(officer, "dashboard")
    finally:
        stop()

    radio_operator_airs(new_page(width=360, height=740, is_mobile=True, has_touch=True), base, live_engine)
