"""A measured first campaign: from a fresh install (an empty database and one admin made with `broadcast users
create`) to a campaign sending, in a real browser, counting the pages each person sees and the actions they take.

The admin follows the first-run path (load the province's communes, create an officer and an approver); the
officer imports the office's spreadsheet (title rows above the header, numbers stored as numbers, a few bad
rows), composes with "send without diacritics", sends a test to their own phone and submits; the approver
approves; the officer starts it and sees it sending. Quiet hours are off, so any hour is inside the sending
window. The counts are checked against a budget (a longer path fails the test) and printed; with
WEB_SCREENSHOTS=docs/screenshots the screens are saved for the README ("A first campaign, measured").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.accounts import service as accounts
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.simulators.twilio import TwilioSimulator
from tests.web.conftest import password_of
from tests.web.test_browser import shot

OFFICER_PHONE = "+84911000222"
SMS = "UBND xã Đất Mũi: từ 01/01/2025 người dân có thể đăng ký thường trú trực tuyến. Hỏi đáp: nhắn tin lại số này."
# Most-friction-free path measured (README, "A first campaign, measured"): more is a regression.
BUDGET = {"admin": (6, 17), "officer": (10, 17), "approver": (3, 5)}  # (pages, actions)


@dataclass
class Person:
    """One person's browser tab, counting the pages they see and what they do."""

    name: str
    page: Any
    base: str
    pages: int = 0
    actions: int = 0
    trail: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("framenavigated", self._seen)

    def _seen(self, frame: Any) -> None:
        if frame == self.page.main_frame:
            self.pages += 1
            self.trail.append(frame.url.removeprefix(self.base))

    def go(self, path: str) -> None:  # typing an address or opening a bookmark
        self.actions += 1
        self.page.goto(self.base + path)

    def click(self, target: Any) -> None:
        self.actions += 1
        target.click()

    def fill(self, target: Any, value: str) -> None:
        self.actions += 1
        target.fill(value)

    def choose(self, target: Any, value: str) -> None:
        self.actions += 1
        target.select_option(value)

    def upload(self, target: Any, path: Path) -> None:
        self.actions += 1
        target.set_input_files(str(path))

    def sign_in(self, username: str) -> None:
        self.go("/")
        self.fill(self.page.get_by_label("Tên đăng nhập"), username)
        self.fill(self.page.get_by_label("Mật khẩu"), password_of(username))
        self.click(self.page.get_by_role("button", name="Đăng nhập"))
        self.page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def office_spreadsheet(path: Path) -> Path:
    """What a commune office keeps: a title block, a serial column, phones stored as numbers, some bad rows."""
    book = Workbook()
    sheet = book.active
    sheet.append(["UỶ BAN NHÂN DÂN XÃ ĐẤT MŨI"])
    sheet.append(["DANH SÁCH NGƯỜI DÂN NHẬN TIN PHỔ BIẾN PHÁP LUẬT"])
    sheet.append([])
    sheet.append(["STT", "Họ và tên", "Số điện thoại", "Xã/Phường", "Ghi chú"])
    rows = [("Trần Thị Mai", 912345678), ("Lê Văn Hùng", 987654321), ("Thạch Sô Phi", 971112233),
            ("Nguyễn Văn Bé", 388123456), ("Huỳnh Thị Lan", "0903 111 222"),
            ("Số sai", 123), ("Không có số", None), ("Trần Thị Mai", 912345678)]  # bad, missing, repeated
    for number, (name, phone) in enumerate(rows, start=1):
        sheet.append([number, name, phone, "Xã Đất Mũi", ""])
    book.save(path)
    return path


@pytest.fixture
def live_settings(live_settings: Settings) -> Settings:
    """A fresh install's settings: the Twilio simulator on (its banner shows); quiet hours off for the test."""
    return live_settings.model_copy(update={"twilio_simulator": True})


def test_a_new_officer_gets_a_campaign_sending_from_a_fresh_install(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    new_page: Callable[..., Any], tmp_path: Path,
) -> None:
    with Session(live_engine) as session:  # `broadcast users create --username admin --role admin`
        accounts.create_user(session, username="admin", password=password_of("admin"), role="admin",
                             full_name="Quản trị viên")
        session.commit()
    base = live_app

    admin = Person("admin", new_page(), base)
    admin.sign_in("admin")
    assert "Bắt đầu sử dụng: đã xong 0/5 bước" in admin.page.content()
    shot(admin.page, "first-run")
    admin.click(admin.page.get_by_role("button", name="Nạp danh sách xã/phường của tỉnh"))
    assert "Đã nạp 64 xã/phường" in admin.page.content()
    admin.click(admin.page.get_by_role("link", name="Tạo tài khoản người phê duyệt"))
    for username, name, role, phone in (("canbo", "Nguyễn Văn Cán Bộ", "officer", OFFICER_PHONE),
                                        ("pheduyet", "Lê Thị Lãnh Đạo", "approver", "")):
        admin.fill(admin.page.locator("#u-username"), username)
        admin.fill(admin.page.locator("#u-full_name"), name)
        admin.fill(admin.page.locator("#u-password"), password_of(username))
        admin.choose(admin.page.locator("#u-role"), role)
        if phone:
            admin.fill(admin.page.locator("#u-phone"), phone)
        admin.click(admin.page.get_by_role("button", name="Tạo tài khoản"))
        assert f"Đã tạo tài khoản {username}" in admin.page.content()

    officer = Person("officer", new_page(), base)
    officer.sign_in("canbo")
    officer.click(officer.page.get_by_role("link", name="Nhập danh sách người dân từ tệp Excel/CSV"))
    officer.upload(officer.page.get_by_label("Tệp danh sách"), office_spreadsheet(tmp_path / "danh-sach.xlsx"))
    officer.click(officer.page.get_by_role("button", name="Tải lên và xem trước"))
    assert "Trần Thị Mai" in officer.page.locator("#preview-rows").inner_text()
    officer.click(officer.page.get_by_role("button", name="Xác nhận nhập"))
    assert officer.page.locator("#created").inner_text() == "5"
    assert officer.page.locator("#bad-rows").count() == 1
    shot(officer.page, "first-run-import")
    officer.click(officer.page.get_by_role("link", name="Soạn tin mới").first)
    officer.fill(officer.page.get_by_label("Tiêu đề"), "Đăng ký thường trú trực tuyến")
    officer.fill(officer.page.get_by_label("Nội dung tin nhắn SMS"), SMS)
    officer.click(officer.page.get_by_label("Gửi không dấu (ít tin hơn, rẻ hơn)"))
    officer.click(officer.page.get_by_label("Xã Đất Mũi"))
    officer.page.wait_for_function("document.querySelector('#reach [data-e=reachable]').textContent === '5'")
    officer.click(officer.page.get_by_role("button", name=f"Lưu nháp và gửi thử đến {OFFICER_PHONE}"))
    officer.page.wait_for_url(re.compile(r"/campaigns/\d+/edit$"))
    campaign_id = int(officer.page.url.rsplit("/", 2)[1])
    assert f"Đã xếp tin thử gửi đến {OFFICER_PHONE}" in officer.page.content()
    officer.click(officer.page.get_by_role("button", name="Lưu và trình phê duyệt"))
    officer.page.wait_for_url(f"{base}/campaigns/{campaign_id}")

    approver = Person("approver", new_page(), base)
    approver.sign_in("pheduyet")  # signing in leads to the queue while something awaits approval
    review = approver.page.locator(f"article[aria-labelledby='review-{campaign_id}']")
    approver.click(review.get_by_role("button", name="Phê duyệt"))
    assert "Đã phê duyệt" in approver.page.locator(".flash-ok").inner_text()

    stop = Dispatcher(live_engine, live_settings, TwilioSmsChannel(live_settings, api_base_url=sim.base_url)).start()
    try:
        officer.go("/")  # approved campaigns wait on the dashboard, one button from sending
        officer.click(officer.page.locator("#ready").get_by_role("button", name="Bắt đầu gửi"))
        officer.page.wait_for_function(
            "document.querySelector('[data-progress] [data-f=delivered]').textContent === '5'", timeout=60_000)
        shot(officer.page, "first-run-sending")
    finally:
        stop()
    sent = {m.to: m.body for m in sim.messages}
    assert sent[OFFICER_PHONE].startswith("UBND xa Dat Mui")  # the test, without diacritics
    assert len(sent) == 6

    report = {p.name: (p.pages, p.actions) for p in (admin, officer, approver)}
    print("\nfirst campaign:", report, {p.name: p.trail for p in (admin, officer, approver)})
    for name, (pages, actions) in report.items():
        assert pages <= BUDGET[name][0] and actions <= BUDGET[name][1], (name, pages, actions)
