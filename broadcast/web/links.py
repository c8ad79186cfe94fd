"""Public pages: short-link redirects (counting unique clicks) and the campaign's full-text page."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, col, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.bounds import DbId
from broadcast.campaigns.models import Campaign, CampaignContent, CampaignStatus
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement import links
from broadcast.events.models import EventKind
from broadcast.events.service import add_event_once
from broadcast.exceptions import NotFoundError
from broadcast.outbox.models import Delivery

router = APIRouter(tags=["public"])

PUBLIC_STATUSES = (CampaignStatus.sending, CampaignStatus.completed, CampaignStatus.paused)
_CSS = ("body{font:17px/1.5 sans-serif;margin:0 auto;max-width:40em;padding:12px;color:#111}"
        "h1{font-size:1.3em;line-height:1.3}audio{width:100%}p{white-space:pre-wrap}"
        "a{color:#0645ad}.m{color:#555;font-size:.9em}")


def record_click(session: Session, settings: Settings, code: str, *, user_agent: str | None,
                 count: bool) -> int:
    """The campaign a short link leads to; a person's first GET counts once per resident and campaign."""
    delivery_id = links.decode(settings, code)
    row = session.exec(select(Delivery.campaign_id, Delivery.contact_id).where(Delivery.id == delivery_id)).first() \
        if delivery_id is not None else None
    if row is None or row[0] is None:
        raise NotFoundError("Liên kết không tồn tại")
    campaign_id, contact_id = row
    if count and not links.is_bot(user_agent):
        commune = session.exec(select(Contact.commune_code).where(Contact.id == contact_id)).first() \
            if contact_id is not None else None
        who = f"c{contact_id}" if contact_id is not None else f"d{delivery_id}"
        add_event_once(session, kind=EventKind.click, campaign_id=campaign_id, contact_id=contact_id,
                       delivery_id=delivery_id, commune_code=commune, dedupe_key=f"click:{campaign_id}:{who}")
    return int(campaign_id)


@router.api_route("/l/{code}", methods=["GET", "HEAD"], include_in_schema=False)
def short_link(code: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Redirect to the campaign page; HEAD and link-preview bots are not counted."""
    campaign_id = record_click(session, settings, code, user_agent=request.headers.get("user-agent"),
                               count=request.method == "GET")
    return RedirectResponse(f"/p/{campaign_id}", status_code=302, headers={"Cache-Control": "no-store"})


def page_html(session: Session, campaign_id: DbId) -> str:
    """A light page with the full text and, when rendered, the campaign's audio clip."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status not in PUBLIC_STATUSES:
        raise NotFoundError("Không tìm thấy bài viết")
    contents = session.exec(select(CampaignContent).where(CampaignContent.campaign_id == campaign_id)).all()
    by_channel = {(c.channel, c.language): c.body for c in contents}
    text = next((by_channel[k] for k in [("loudspeaker", "vi"), ("voice", "vi"), ("sms", "vi")] if k in by_channel),
                next(iter(by_channel.values()), ""))
    clip = session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id,
                                                AudioClip.status == ClipStatus.ready)
                        .order_by(col(AudioClip.id).desc()).limit(1)).first()
    audio = ""
    if clip is not None and clip.download_token:
        src = f"/clips/{clip.download_token}/bai-{campaign_id}.mp3"
        audio = (f'<audio controls preload="none" src="{src}"></audio>'
                 f'<p class="m"><a href="{src}">Tải bản ghi âm (MP3)</a></p>')
    description = f"<p>{escape(campaign.description)}</p>" if campaign.description.strip() else ""
    return ("<!doctype html><html lang=vi><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{escape(campaign.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{escape(campaign.title)}</h1>{audio}<p>{escape(text)}</p>{description}"
            '<p class="m">Tin phổ biến, giáo dục pháp luật. Soạn TROGIUP để được hỗ trợ, TC để ngừng nhận tin.</p>'
            "</body></html>")


@router.get("/p/{campaign_id}", response_class=HTMLResponse, include_in_schema=False)
def campaign_page(campaign_id: DbId, session: SessionDep) -> HTMLResponse:
    """The public full-text page of a campaign."""
    return HTMLResponse(page_html(session, campaign_id), headers={"Cache-Control": "public, max-age=300"})
