"""Who may open which page: anonymous visitors go to the login page, each role gets 200 or 403 (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.web.conftest import ROLES, Seeded, csrf_of, login

READERS = {"admin", "officer", "approver", "viewer"}
EDITORS = {"admin", "officer"}
REVIEWERS = {"admin", "approver"}
RADIO = {"admin", "radio_operator"}
ADMINS = {"admin"}

# page → roles that get 200 (every other role gets 403)
PAGES: dict[str, set[str]] = {
    "/residents": READERS,
    "/residents/import": EDITORS,
    "/campaigns": READERS,
    "/campaigns/new": EDITORS,
    "/campaigns/{campaign}": READERS,
    "/campaigns/{campaign}/edit": EDITORS,
    "/approvals": REVIEWERS,
    "/inbox": READERS,
    "/inbox/{conversation}": READERS,
    "/radio": RADIO,
    "/admin/users": ADMINS,
    "/admin/audit": ADMINS,
    "/ui/progress?ids={campaign}": READERS,
    "/ui/campaigns/{campaign}/clips": READERS,
}
# form posts (with a valid CSRF token) → roles allowed; the others get 403 before anything happens
POSTS: dict[str, set[str]] = {
    "/campaigns/new": EDITORS,
    "/campaigns/{campaign}/start": EDITORS,
    "/campaigns/{campaign}/approve": REVIEWERS,
    "/campaigns/{campaign}/resend": EDITORS,
    "/residents/import/confirm": EDITORS,
    "/inbox/{conversation}/close": EDITORS,
    "/admin/users": ADMINS,
    "/radio/airings/999999/confirm": RADIO,
}


def fill(path: str, seeded: Seeded) -> str:
    return path.format(campaign=seeded.campaign_id, conversation=seeded.conversation_id)


def test_anonymous_visitors_are_sent_to_login_with_next(anonymous_client: Any, seeded: Seeded) -> None:
    for template in ["/", *PAGES]:
        path = fill(template, seeded)
        response = anonymous_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/"), path
    assert anonymous_client.get("/login").status_code == 200
    assert anonymous_client.get("/healthz").status_code == 200
    page = anonymous_client.get("/campaigns/1?x=1")  # followed: the login form keeps where to go back to
    assert page.status_code == 200 and 'name="next" value="/campaigns/1?x=1"' in page.text


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_pages(role: str, anonymous_client: Any, seeded: Seeded) -> None:
    assert login(anonymous_client, role).status_code == 303
    for template, allowed in PAGES.items():
        path = fill(template, seeded)
        response = anonymous_client.get(path, follow_redirects=False)
        assert response.status_code == (200 if role in allowed else 403), (role, path, response.status_code)
        if response.status_code == 403:
            assert "Không có quyền truy cập" in response.text
    home = anonymous_client.get("/", follow_redirects=False)
    if role == "radio_operator":
        assert home.status_code == 303 and home.headers["location"] == "/radio"
    else:
        assert home.status_code == 200
    html = anonymous_client.get("/radio" if role == "radio_operator" else "/").text
    menu = html.split('class="menu"', 1)[1].split("</nav>", 1)[0]  # the menu offers only what the role may open
    for href, allowed in (("/admin/users", ADMINS), ("/approvals", REVIEWERS), ("/campaigns/new", EDITORS),
                          ("/radio", RADIO), ("/residents", READERS)):
        assert (f'href="{href}"' in menu) == (role in allowed), (role, href)
    token = csrf_of(anonymous_client, "/login")
    for template, allowed in POSTS.items():
        path = fill(template, seeded)
        response = anonymous_client.post(path, data={"csrf_token": token}, follow_redirects=False)
        if role in allowed:
            assert response.status_code in (303, 404, 422), (role, path, response.status_code)
        else:
            assert response.status_code == 403, (role, path, response.status_code)


def test_phone_numbers_are_masked_for_roles_that_do_not_need_them(anonymous_client: Any, seeded: Seeded,
                                                                  engine: Engine) -> None:
    login(anonymous_client, "officer")
    assert "+84980000003" in anonymous_client.get("/residents").text
    anonymous_client.post("/logout", data={"csrf_token": csrf_of(anonymous_client, "/residents")})
    login(anonymous_client, "viewer")
    page = anonymous_client.get("/residents").text
    assert "+84980000003" not in page and "098****003" in page
    found = anonymous_client.get("/residents?q=098 000 0003").text  # a number as typed: prefix on the index
    assert found.count("098****003") == 1 and "1 người dân" in found


def test_logout_ends_the_session(anonymous_client: Any, seeded: Seeded) -> None:
    login(anonymous_client, "officer")
    assert anonymous_client.get("/residents", follow_redirects=False).status_code == 200
    token = csrf_of(anonymous_client, "/residents")
    assert anonymous_client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert anonymous_client.get("/residents", follow_redirects=False).status_code == 303
