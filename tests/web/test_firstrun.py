"""A fresh install leads its first users: the first-run path on the dashboard, the admin's button that loads the
province's communes, and the simulator banner on every page while no real SMS can leave."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcast.accounts import service as accounts
from broadcast.audit.models import AuditLog
from broadcast.communes.models import Commune
from broadcast.outbox.models import Delivery, DeliveryKind
from tests.support.seed import seed_contacts
from tests.web.conftest import csrf_of, login, password_of

BANNER = "Đang dùng Twilio mô phỏng: không có tin nhắn thật nào được gửi đi."


def steps(html: str) -> dict[str, str]:
    """Each first-run step's state on the dashboard: done or todo."""
    return {key: state for state, key in re.findall(r'<li class="(done|todo)" id="step-(\w+)"', html)}


def test_a_fresh_install_shows_the_path_and_the_admin_loads_the_communes(anonymous_client: Any,
                                                                          engine: Engine) -> None:
    client = anonymous_client
    with Session(engine) as session:
        accounts.create_user(session, username="admin", password=password_of("admin"), role="admin")
        session.commit()
    assert BANNER in client.get("/login").text  # before signing in, too
    assert login(client, "admin").status_code == 303
    home = client.get("/").text
    assert steps(home) == {"communes": "todo", "residents": "todo", "approver": "todo", "sender": "todo",
                           "test_sms": "todo"}
    assert "Bắt đầu sử dụng: đã xong 0/5 bước" in home and BANNER in home
    assert 'href="/residents/import"' in home and 'href="/admin/users"' in home and 'href="/admin/gateways"' in home

    loaded = client.post("/admin/communes/load", data={"csrf_token": csrf_of(client, "/")}, follow_redirects=True)
    assert loaded.status_code == 200
    with Session(engine) as session:
        count = session.exec(select(func.count()).select_from(Commune).where(Commune.province_code == "96")).one()
        assert count > 50  # Cà Mau after the 2025 reform
        assert session.exec(select(AuditLog).where(AuditLog.action == "communes.load")).one().actor == "admin"
    assert f"Đã nạp {count} xã/phường của tỉnh mã 96 ({count} mới)." in loaded.text
    assert steps(loaded.text)["communes"] == "done"
    for path in ("/residents", "/campaigns", "/admin/users", "/inbox"):
        assert BANNER in client.get(path).text, path


def test_officers_see_who_does_the_admin_steps_and_the_path_goes_when_done(client_with: Callable[..., Any],
                                                                           engine: Engine) -> None:
    real = client_with(twilio_simulator=False)
    real.headers.pop("Authorization")
    seed_contacts(engine, 3)
    with Session(engine) as session:
        officer = accounts.create_user(session, username="officer", password=password_of("officer"),
                                       role="officer", phone="+84911000111")
        session.commit()
        officer_id = officer.id
    assert login(real, "officer").status_code == 303
    home = real.get("/").text
    assert BANNER not in home
    assert steps(home) == {"communes": "done", "residents": "done", "approver": "todo", "sender": "done",
                           "test_sms": "todo"}
    assert "Nhờ quản trị viên tạo tài khoản người phê duyệt" in home and "/admin/communes/load" not in home
    with Session(engine) as session:
        accounts.create_user(session, username="approver", password=password_of("approver"), role="approver")
        session.add(Delivery(to_phone="+84911000111", body="thử", kind=DeliveryKind.test, created_by_id=officer_id))
        session.commit()
    assert 'id="step-' not in real.get("/").text  # every step done: the path is gone


def test_the_api_loads_the_province_for_admins(client: Any) -> None:
    answer = client.post("/api/v1/communes/load")
    assert answer.status_code == 200
    body = answer.json()
    assert body["province"] == "96" and body["total"] == body["created"] > 50
    again = client.post("/api/v1/communes/load").json()
    assert again["created"] == 0 and again["total"] == body["total"]  # safe to run again
