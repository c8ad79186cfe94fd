"""Every page passes axe-core with no serious or critical violation, in Vietnamese and English, at 1280 px and on
a 360-px phone. axe-core comes from npm (tests/web/axe/package-lock.json, `npm ci` in scripts/bootstrap.sh) and is
injected with Playwright into Debian's Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.campaigns import service as campaigns
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate
from broadcast.config import Settings
from tests.support.needs import missing
from tests.support.seed import start
from tests.web.conftest import password_of, seed_web

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def pages(campaign_id: int, draft_id: int, conversation_id: int) -> dict[str | None, list[str]]:
    """The pages each role works with (None: not signed in)."""
    return {
        None: ["/login"],
        "officer": ["/", "/residents", "/residents/import", "/campaigns", "/campaigns/new",
                    f"/campaigns/{campaign_id}", f"/campaigns/{draft_id}/edit", "/inbox",
                    f"/inbox/{conversation_id}", "/campaigns/999999"],
        "admin": ["/", "/admin/users", "/admin/audit", "/admin/gateways"],
        "approver": ["/approvals"],
        "radio_operator": ["/radio"],
    }


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))")
    return [v for v in found if v["impact"] in SERIOUS]


def sign_in(page: Any, base: str, username: str, lang: str) -> None:
    page.goto(f"{base}/lang/{lang}?next=/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password_of(username))
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("width", [1280, 360])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_has_no_serious_accessibility_violation(
    live_app: str, live_engine: Engine, live_settings: Settings, new_page: Callable[..., Any], lang: str,
    width: int,
) -> None:
    if not AXE.exists():
        missing("axe-core (npm ci --prefix tests/web/axe)")
    seeded = seed_web(live_engine)
    start(live_engine, seeded.campaign_id)  # a campaign in progress: its progress and why it waits
    with Session(live_engine) as session:
        draft = campaigns.create_campaign(session, CampaignCreate(
            title="Bản nháp", sms_text="Thông báo thử", audience=AudienceIn(), channels=["sms", "loudspeaker"]))
        session.commit()
        draft_id = draft.id
    assert draft_id is not None
    problems = []
    for role, paths in pages(seeded.campaign_id, draft_id, seeded.conversation_id).items():
        page = new_page(width=width, height=800, is_mobile=width < 400)
        if role is None:
            page.goto(f"{live_app}/lang/{lang}?next=/login")
        else:
            sign_in(page, live_app, role, lang)
        for path in paths:
            page.goto(live_app + path)
            assert page.locator("html").get_attribute("lang") == lang
            problems += [f"{role or 'anonymous'} {path}: {json.dumps(v, ensure_ascii=False)}"
                         for v in violations(page)]
    assert problems == [], "\n".join(problems)
