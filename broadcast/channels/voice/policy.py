"""Voice-call rules per campaign: answering-machine handling, retries and the calling window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from broadcast.channels.core import rules
from broadcast.config import Settings

AMD_MODES = ("off", "leave_message", "hang_up")
# Call statuses after which the resident was not reached and another call may help.
RETRYABLE = frozenset({"busy", "no-answer"})
NOT_REACHED = frozenset({"busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True)
class VoicePolicy:
    """How one campaign's calls behave (campaign overrides on top of the settings)."""

    machine_detection: str
    max_retries: int
    retry_seconds: float
    window_start: time
    window_end: time

    @property
    def machine_param(self) -> str | None:
        """Twilio's MachineDetection value: wait for the beep when leaving the clip, else detect fast."""
        return {"leave_message": "DetectMessageEnd", "hang_up": "Enable"}.get(self.machine_detection)


def policy_for(settings: Settings, campaign: Any | None = None) -> VoicePolicy:
    """The policy for a campaign row (or anything with its voice_* attributes), or the defaults."""

    def pick(name: str, default: Any) -> Any:
        value = getattr(campaign, name, None) if campaign is not None else None
        return default if value is None else value

    return VoicePolicy(
        machine_detection=pick("voice_machine_detection", settings.voice_machine_detection),
        max_retries=int(pick("voice_max_retries", settings.voice_max_retries)),
        retry_seconds=float(pick("voice_retry_seconds", settings.voice_retry_seconds)),
        window_start=time.fromisoformat(pick("voice_window_start", settings.voice_window_start)),
        window_end=time.fromisoformat(pick("voice_window_end", settings.voice_window_end)),
    )


def window_opens(moment: datetime, policy: VoicePolicy, zone: ZoneInfo) -> datetime:
    """`moment` itself when inside the calling window, else the next time the window opens."""
    # Outside the window is a "quiet" span from its end to its start (it may wrap past midnight).
    return rules.quiet_hours_end(moment, policy.window_end, policy.window_start, zone)


def next_call_at(moment: datetime, policy: VoicePolicy, zone: ZoneInfo) -> datetime:
    """When to call again after a busy / unanswered call: one interval later, inside the window."""
    return window_opens(moment + timedelta(seconds=policy.retry_seconds), policy, zone)


def is_machine(answered_by: str | None) -> bool:
    """Twilio AMD verdicts for a machine: machine_start, machine_end_beep, machine_end_silence, …"""
    return bool(answered_by) and str(answered_by).startswith(("machine", "fax"))
