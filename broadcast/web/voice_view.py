"""Voice calls on the pages: the composer's voice options, the campaign page's call figures, clips ready first."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from broadcast.audio.models import ClipStatus
from broadcast.bounds import DbId
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, ChannelKind
from broadcast.channels.voice.clips import clip_readiness
from broadcast.channels.voice.policy import policy_for
from broadcast.config import Settings
from broadcast.engagement.calls import voice_metrics
from broadcast.exceptions import ValidationFailed

VOICE = ChannelKind.voice.value
LOUD = ChannelKind.loudspeaker.value
MACHINE_CHOICES = ("leave_message", "hang_up")
MISSING = "missing"


def voice_draft(campaign: Campaign | None, form: Any | None = None) -> dict[str, Any]:
    """The composer's voice options as strings (empty: the settings' default), from a form or a campaign."""
    if form is not None:
        machine = str(form.get("voice_machine_detection", ""))
        return {
            "voice_machine_detection": machine if machine in MACHINE_CHOICES else "",
            "voice_max_retries": str(form.get("voice_max_retries", "")).strip(),
            "voice_retry_minutes": str(form.get("voice_retry_minutes", "")).strip(),
            "voice_window_start": str(form.get("voice_window_start", "")).strip(),
            "voice_window_end": str(form.get("voice_window_end", "")).strip(),
            "sms_fallback_for_voice": form.get("sms_fallback_for_voice") == "1",
        }
    seconds = campaign.voice_retry_seconds if campaign else None
    return {
        "voice_machine_detection": (campaign.voice_machine_detection if campaign else None) or "",
        "voice_max_retries": "" if campaign is None or campaign.voice_max_retries is None
        else str(campaign.voice_max_retries),
        "voice_retry_minutes": "" if seconds is None else f"{seconds / 60:g}",
        "voice_window_start": (campaign.voice_window_start if campaign else None) or "",
        "voice_window_end": (campaign.voice_window_end if campaign else None) or "",
        "sms_fallback_for_voice": bool(campaign and campaign.sms_fallback_for_voice),
    }


def _number(text: str, field: str, message: str) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise ValidationFailed(message, field=field) from None


def voice_fields(draft: dict[str, Any]) -> dict[str, Any]:
    """Campaign fields from the composer's voice options (None: the settings' default)."""
    retries = _number(draft["voice_max_retries"], "voice_max_retries", "Số lần gọi lại phải là một số.")
    minutes = _number(draft["voice_retry_minutes"], "voice_retry_minutes", "Khoảng cách gọi lại phải là số phút.")
    if retries is not None and retries != int(retries):
        raise ValidationFailed("Số lần gọi lại phải là số nguyên.", field="voice_max_retries")
    if minutes is not None and minutes <= 0:
        raise ValidationFailed("Khoảng cách gọi lại phải lớn hơn 0 phút.", field="voice_retry_minutes")
    return {
        "voice_machine_detection": draft["voice_machine_detection"] or None,
        "voice_max_retries": None if retries is None else int(retries),
        "voice_retry_seconds": None if minutes is None else max(1, round(minutes * 60)),
        "voice_window_start": draft["voice_window_start"] or None,
        "voice_window_end": draft["voice_window_end"] or None,
        "sms_fallback_for_voice": draft["sms_fallback_for_voice"],
    }


def voice_defaults(settings: Settings) -> dict[str, Any]:
    """What an empty voice option means (shown as placeholders)."""
    return {"machine": settings.voice_machine_detection, "retries": settings.voice_max_retries,
            "minutes": f"{settings.voice_retry_seconds / 60:g}", "start": settings.voice_window_start,
            "end": settings.voice_window_end}


def voice_panel(session: Session, settings: Settings, campaign: Campaign) -> dict[str, Any] | None:
    """The campaign page's voice section: call figures, effective options, clip readiness (None: no calls)."""
    if VOICE not in campaign.channels or campaign.id is None:
        return None
    states = clip_readiness(session, settings, campaign.id)
    policy = policy_for(settings, campaign)
    return {
        "m": voice_metrics(session, settings, campaign.id), "clips": states,
        "clip_ready": bool(states) and all(s == ClipStatus.ready for _, s in states),
        "policy": policy, "retry_minutes": f"{policy.retry_seconds / 60:g}",
        "fallback": campaign.sms_fallback_for_voice,
    }


def voice_script(session: Session, campaign_id: DbId) -> str:
    """The campaign's Vietnamese voice script ("" when calls read the loudspeaker script)."""
    return next((c.body for c in service.contents_of(session, campaign_id)
                 if c.channel == VOICE and c.language == "vi"), "")
