"""Voice calls on the pages: composing a voice campaign, its clip rendered before calls, the call figures."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.models import AudioClip
from broadcast.campaigns.models import Campaign, CampaignContent
from broadcast.campaigns.schemas import ContentIn
from broadcast.web.i18n import fmt_number, fmt_percent
from tests.support.seed import approved_campaign, start, wait_until
from tests.support.voice_calls import simulate_calls
from tests.web.conftest import Seeded, csrf_of, login

VOICE_SCRIPT = "Thông báo của Ủy ban nhân dân xã: Luật Đất đai năm 2024 có hiệu lực từ ngày 1/8/2024."
LOUD_SCRIPT = "Loa phát thanh xã Đất Mũi xin thông báo về Luật Đất đai 2024."


def voice_form(token: str, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token, "title": "Gọi điện phổ biến Luật Đất đai", "channels": ["voice", "sms"],
        "sms_text": "UBND xa: Luat Dat dai 2024 co hieu luc tu 1/8.", "script": LOUD_SCRIPT,
        "voice_script": VOICE_SCRIPT, "voice_machine_detection": "leave_message", "voice_max_retries": "1",
        "voice_retry_minutes": "30", "voice_window_start": "08:00", "voice_window_end": "19:30",
        "sms_fallback_for_voice": "1", "communes": ["32248"], "schedule_kind": "none",
        "bulletin_level": "normal", "action": "save"}
    form.update(overrides)
    return form


def clip_warning(page: str) -> bool:
    return 'id="voice-clip-warning"' in page


def test_compose_a_voice_campaign_then_its_clip_is_rendered_on_approval(anonymous_client: Any, seeded: Seeded,
                                                                         engine: Engine) -> None:
    login(anonymous_client, "officer")
    token = csrf_of(anonymous_client, "/campaigns/new")
    new = anonymous_client.get("/campaigns/new").text
    assert 'value="voice"' in new and "Cuộc gọi thoại" in new and "Dùng kịch bản loa" in new
    wrong = anonymous_client.post("/campaigns/new", data=voice_form(token, voice_retry_minutes="nửa giờ"))
    assert wrong.status_code == 422 and "số phút" in wrong.text and VOICE_SCRIPT in wrong.text
    created = anonymous_client.post("/campaigns/new", data=voice_form(token), follow_redirects=False)
    assert created.status_code == 303
    campaign_id = int(created.headers["location"].split("/")[2])
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.channels == ["voice", "sms"]
        assert (campaign.voice_machine_detection, campaign.voice_max_retries, campaign.voice_retry_seconds,
                campaign.voice_window_start, campaign.voice_window_end, campaign.sms_fallback_for_voice) == \
            ("leave_message", 1, 1800, "08:00", "19:30", True)
        bodies = {c.channel: c.body for c in session.exec(
            select(CampaignContent).where(CampaignContent.campaign_id == campaign_id))}
    # The loudspeaker script is kept out when the loudspeaker channel is not chosen.
    assert bodies == {"voice": VOICE_SCRIPT, "sms": "UBND xa: Luat Dat dai 2024 co hieu luc tu 1/8."}
    edit = anonymous_client.get(f"/campaigns/{campaign_id}/edit").text
    assert f">{VOICE_SCRIPT}</textarea>" in edit
    assert '<option value="leave_message" selected>' in edit and 'name="voice_retry_minutes" min="1" ' \
        'step="any" value="30"' in edit and 'value="19:30"' in edit
    assert re.search(r'name="sms_fallback_for_voice" value="1" checked', edit)
    # Emptying the options goes back to the settings' defaults.
    cleared = anonymous_client.post(f"/campaigns/{campaign_id}/edit", data=voice_form(
        token, voice_machine_detection="", voice_max_retries="", voice_retry_minutes="", voice_window_start="",
        voice_window_end="", sms_fallback_for_voice=""), follow_redirects=False)
    assert cleared.status_code == 303
    with Session(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.voice_retry_seconds is None
        assert campaign.voice_machine_detection is None and not campaign.sms_fallback_for_voice
    anonymous_client.post(f"/campaigns/{campaign_id}/edit", data=voice_form(token, action="submit"))
    page = anonymous_client.get(f"/campaigns/{campaign_id}").text
    assert clip_warning(page) and "Chưa tạo" in page and "gọi lại 1 lần, cách 30 phút" in page
    anonymous_client.post("/logout", data={"csrf_token": token})

    login(anonymous_client, "approver")
    token = csrf_of(anonymous_client, "/approvals")
    assert VOICE_SCRIPT in anonymous_client.get("/approvals").text  # the approver reads the call script
    anonymous_client.post(f"/campaigns/{campaign_id}/approve", data={"csrf_token": token, "comment": "Đồng ý"})

    def rendered() -> bool:
        with Session(engine) as session:
            clips = session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id)).all()
            return bool(clips) and all(c.status == "ready" for c in clips)

    wait_until(rendered, timeout=60)
    page = anonymous_client.get(f"/campaigns/{campaign_id}").text
    assert not clip_warning(page) and 'id="voice-figures"' in page


def test_starting_from_the_page_asks_for_the_clip_calls_wait_for(anonymous_client: Any, seeded: Seeded,
                                                                 engine: Engine) -> None:
    # Approved outside the pages (JSON API, seed): no clip was asked for yet.
    campaign_id = approved_campaign(engine, channels=["voice"],
                                    contents=[ContentIn(channel="voice", body=VOICE_SCRIPT)])
    login(anonymous_client, "officer")
    page = anonymous_client.get(f"/campaigns/{campaign_id}").text
    assert clip_warning(page) and "Chưa tạo" in page
    token = csrf_of(anonymous_client, f"/campaigns/{campaign_id}")
    anonymous_client.post(f"/campaigns/{campaign_id}/start", data={"csrf_token": token})
    with Session(engine) as session:
        assert session.get(Campaign, campaign_id).status == "sending"  # type: ignore[union-attr]

    def ready() -> bool:
        with Session(engine) as session:
            clips = session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id)).all()
            return len(clips) == 1 and clips[0].status == "ready"

    wait_until(ready, timeout=60)
    assert not clip_warning(anonymous_client.get(f"/campaigns/{campaign_id}").text)


def figure(page: str, name: str) -> str:
    match = re.search(rf'data-v="{name}">([^<]*)<', page)
    assert match, name
    return match.group(1)


def test_campaign_page_shows_the_call_figures(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    campaign_id = approved_campaign(engine, channels=["voice"], sms_fallback_for_voice=True,
                                    contents=[ContentIn(channel="voice", body=VOICE_SCRIPT)])
    start(engine, campaign_id)
    expected = simulate_calls(engine, campaign_id)
    login(anonymous_client, "viewer")
    page = anonymous_client.get(f"/campaigns/{campaign_id}").text
    assert figure(page, "calls_placed") == fmt_number(expected.placed) == "12"
    assert figure(page, "answered") == fmt_number(expected.answered)
    assert f"({fmt_percent(expected.answered, expected.residents)})" in page
    assert figure(page, "listened") == fmt_percent(expected.share, 1)
    assert (figure(page, "repeats"), figure(page, "callbacks"), figure(page, "opt_outs"),
            figure(page, "sms_fallbacks")) == ("2", "1", "1", "1")
    assert figure(page, "minutes") == fmt_number(expected.minutes, "vi", 1)
    assert figure(page, "cost") == fmt_number(expected.cost, "vi", 2)
    assert f"{expected.not_reached} không liên lạc được" in page and f"{expected.machine} nghe bằng hộp thư" in page
    assert "gửi SMS nếu gọi không được" in page and "sheet=calls" in page
    # An SMS-only campaign has no voice section.
    assert 'id="voice"' not in anonymous_client.get(f"/campaigns/{seeded.campaign_id}").text
