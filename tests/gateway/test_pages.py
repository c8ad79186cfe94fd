"""The gateway admin page: admins only; registering a phone, health, queue and routes through the forms."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.channels.gateway.models import CommuneRoute
from broadcast.channels.gateway.service import get_phone
from broadcast.simulators.gateway import GatewaySimulator
from tests.web.conftest import Seeded, csrf_of, login, seed_web


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    return seed_web(engine)


def test_admin_page_registers_a_phone_and_routes_a_commune(anonymous_client: Any, seeded: Seeded,
                                                          engine: Engine) -> None:
    login(anonymous_client, "officer")
    assert anonymous_client.get("/admin/gateways", follow_redirects=False).status_code == 403
    anonymous_client.post("/logout", data={"csrf_token": csrf_of(anonymous_client, "/inbox")})
    assert login(anonymous_client, "admin").status_code == 303
    page = anonymous_client.get("/admin/gateways")
    assert page.status_code == 200 and 'href="/admin/gateways"' in page.text and "Chưa có điện thoại" in page.text
    sim = GatewaySimulator("sms", "mat-khau-may", "khoa")
    url = sim.start()
    try:
        token = csrf_of(anonymous_client, "/admin/gateways")
        form = {"csrf_token": token, "name": "xa-dat-mui-1", "base_url": url, "login": "sms",
                "password": "mat-khau-may", "signing_key": "khoa", "commune_code": "32248",
                "rate_per_minute": "4", "daily_limit": "250", "route_commune": "1"}
        assert anonymous_client.post("/admin/gateways", data=form, follow_redirects=False).status_code == 303
        page = anonymous_client.get("/admin/gateways").text
        assert "Đã thêm điện thoại xa-dat-mui-1" in page and "250" in page and "mat-khau-may" not in page
        assert "/webhooks/gateway/xa-dat-mui-1" in page and "4,0 tin/phút" in page
        assert anonymous_client.post("/admin/gateways", data={**form, "csrf_token": "forged"},
                                     follow_redirects=False).status_code == 403
        with Session(engine) as session:
            route = session.get(CommuneRoute, "32248")
            assert route is not None and route.route == "gateway:xa-dat-mui-1"
        sim.go_down()
        anonymous_client.post("/admin/gateways/xa-dat-mui-1/check", data={"csrf_token": token})
        assert "không trả lời" in anonymous_client.get("/admin/gateways").text
        sim.come_up()
        anonymous_client.post("/admin/gateways/xa-dat-mui-1/check", data={"csrf_token": token})
        with Session(engine) as session:
            assert get_phone(session, "xa-dat-mui-1").status == "up"
        anonymous_client.post("/admin/gateways/routes", data={"csrf_token": token, "commune_code": "32248",
                                                               "route": "twilio"})
        with Session(engine) as session:
            assert session.get(CommuneRoute, "32248").route == "twilio"  # type: ignore[union-attr]
        anonymous_client.get("/lang/en?next=/admin/gateways")
        assert "Gateway phones" in anonymous_client.get("/admin/gateways").text
    finally:
        sim.close()
