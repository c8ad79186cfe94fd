"""Public pages: short-link redirects (counting unique clicks) and the campaign's full-text page."""

from __future__ import annotations

from html import escape

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from broadcast.audio.service import latest_ready_clip
from broadcast.bounds import DbId
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import CampaignStatus
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement import links
from broadcast.exceptions import NotFoundError
from broadcast.web.core import page_router

router = page_router(dependencies=[])  # residents follow these links: no session, no CSRF

PUBLIC_STATUSES = (CampaignStatus.sending, CampaignStatus.completed, CampaignStatus.paused)
_CSS = ("body{font:17px/1.5 sans-serif;margin:0 auto;max-width:40em;padding:12px;color:#111}"
        "h1{font-size:1.3em;line-height:1.3}audio{width:100%}p{white-space:pre-wrap}"
        "a{color:#0645ad}.m{color:#555;font-size:.9em}")


@router.api_route("/l/{code}", methods=["GET", "HEAD"], include_in_schema=False)
def short_link(code: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Redirect to the campaign page; HEAD and link-preview bots are not counted."""
    campaign_id = links.record_click(session, settings, code, user_agent=request.headers.get("user-agent"),
                               count=request.method == "GET")
    return RedirectResponse(f"/p/{campaign_id}", status_code=302, headers={"Cache-Control": "no-store"})


def page_html(session: Session, campaign_id: DbId) -> str:
    """A light page with the full text and, when rendered, the campaign's audio clip."""
    campaign = campaigns.get_campaign(session, campaign_id)
    if campaign.status not in PUBLIC_STATUSES:
        raise NotFoundError("Không tìm thấy bài viết")
    by_channel = {(c.channel, c.language): c.body for c in campaigns.contents_of(session, campaign_id)}
    text = next((by_channel[k] for k in [("loudspeaker", "vi"), ("voice", "vi"), ("sms", "vi")] if k in by_channel),
                next(iter(by_channel.values()), ""))
    clip = latest_ready_clip(session, campaign_id)
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
