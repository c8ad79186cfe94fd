"""Sending rules: quiet hours in local time, the per-resident daily cap, retry backoff."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_quiet_hours(moment: datetime, start: time, end: time, zone: ZoneInfo) -> bool:
    """True when `moment` falls in [start, end) local time; the range may wrap past midnight."""
    local = moment.astimezone(zone).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    """The first instant at or after `moment` outside quiet hours (as an aware UTC datetime)."""
    if not in_quiet_hours(moment, start, end, zone):
        return moment
    local = moment.astimezone(zone)
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return candidate.astimezone(ZoneInfo("UTC"))


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [base, min(cap, base·2^(attempt-1))]."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(min(base, ceiling), ceiling)
