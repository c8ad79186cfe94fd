"""Campaign schedules as data: validate what an officer asks for, and compute occurrences and windows.

Pure functions (no database). All local times are in the configured TIMEZONE; the stored schedule
keeps the officer's fields plus APScheduler cron `fields` whose day-of-week uses names, because
APScheduler 3 numbers Monday 0 while crontab numbers Sunday 0.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from annotated_types import MaxLen
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, Field

from broadcast.bounds import HhMm, parse_count
from broadcast.exceptions import ValidationFailed

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CRON_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 and 7 are Sunday
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_WINDOW_DAYS = 14


class WindowIn(BaseModel):
    """Send between `start` and `end` (local HH:MM) on `days` consecutive days from the run's date."""

    start: str = Field(pattern=_HHMM.pattern)
    end: str = Field(pattern=_HHMM.pattern)
    days: int = Field(default=1, ge=1, le=MAX_WINDOW_DAYS)


class ScheduleIn(BaseModel):
    """A schedule as an officer sets it: `at` (once), or `cron` / `every` (recurring) with `start`/`end`."""

    at: datetime | None = None
    cron: str | None = Field(default=None, max_length=100,
                             description="5-field crontab, e.g. '30 7 * * 1' = Mondays 07:30")
    every: Literal["daily", "weekly", "monthly"] | None = None
    days: Annotated[list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]], MaxLen(7)] | None = Field(
        default=None, description="weekly: weekdays mon…sun")
    day: int | Literal["last"] | None = Field(default=None, description="monthly: day of month 1–31 or 'last'")
    time: HhMm | None = Field(default=None, description="local HH:MM for daily/weekly/monthly")
    start: datetime | date | None = None
    end: datetime | date | None = None
    window: WindowIn | None = None
    slots: Annotated[list[HhMm], MaxLen(12)] | None = Field(
        default=None, description="loudspeaker airing slots HH:MM (local)")


def _fail(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, field=field)


def _local(value: datetime | date, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """A date or datetime as an aware datetime; naive values are local time in `zone`."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    clock = time(23, 59, 59) if end_of_day else time(0, 0)
    return datetime.combine(value, clock, tzinfo=zone)


def fmt_local(moment: datetime, zone: ZoneInfo) -> str:
    """`07:30 ngày 06/01/2025` in local time, for messages to officers."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def _cron_dow(field: str) -> str:
    """Crontab day-of-week (0/7 = Sunday, names allowed) as APScheduler weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            lo, hi = 0, 6
        else:
            lo_text, _, hi_text = body.partition("-")
            lo = _dow_number(lo_text)
            hi = _dow_number(hi_text) if hi_text else (6 if step_text else lo)
        if step < 1 or lo > hi:
            raise ValueError(f"bad day-of-week range {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(CRON_DOW[d] for d in sorted(days))


def _dow_number(token: str) -> int:
    token = token.strip().lower()
    number = parse_count(token, maximum=7)
    if number is not None:
        return number
    if token[:3] in CRON_DOW:
        return CRON_DOW.index(token[:3])
    raise ValueError(f"unknown day of week {token!r}")


def cron_fields(expr: str) -> dict[str, str]:
    """A 5-field crontab expression as CronTrigger keyword fields (raises ValueError when invalid)."""
    values = expr.split()
    if len(values) != 5:
        raise ValueError(f"cần đúng 5 trường, nhận được {len(values)}")
    fields = {"minute": values[0], "hour": values[1], "day": values[2], "month": values[3],
              "day_of_week": _cron_dow(values[4])}
    CronTrigger(**fields, timezone=UTC)  # let APScheduler reject bad fields now
    return fields


def _shorthand_fields(body: ScheduleIn) -> dict[str, str]:
    clock = body.time or (body.window.start if body.window else None)
    if clock is None or not _HHMM.match(clock):
        raise _fail("Cần giờ chạy dạng HH:MM, ví dụ \"07:30\".", "time")
    hour, minute = (str(int(p)) for p in clock.split(":"))
    fields = {"minute": minute, "hour": hour, "day": "*", "month": "*", "day_of_week": "*"}
    if body.every == "weekly":
        days = [d.strip().lower()[:3] for d in body.days or []]
        bad = [d for d in days if d not in WEEKDAYS]
        if not days or bad:
            raise _fail("Lịch hằng tuần cần danh sách thứ trong tuần, ví dụ [\"mon\", \"thu\"] "
                        f"(mon…sun){'; không hiểu: ' + ', '.join(bad) if bad else ''}.", "days")
        fields["day_of_week"] = ",".join(sorted(set(days), key=WEEKDAYS.index))
    elif body.every == "monthly":
        if body.day is None or (body.day != "last" and not 1 <= int(body.day) <= 31):
            raise _fail("Lịch hằng tháng cần ngày trong tháng 1–31 hoặc \"last\" (ngày cuối tháng).", "day")
        fields["day"] = str(body.day)
    return fields


def _check_window(window: WindowIn, quiet: tuple[time, time]) -> None:
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    if end <= start:
        raise _fail(f"Khung giờ gửi phải kết thúc sau khi bắt đầu (đang là {window.start}–{window.end}); "
                    "khung qua nửa đêm không được hỗ trợ.", "window.end")
    q_start, q_end = quiet
    minute = datetime.combine(date(2000, 1, 1), start)
    while minute.time() < end:
        if _in_range(minute.time(), q_start, q_end):
            raise _fail(f"Khung giờ gửi {window.start}–{window.end} trùng giờ yên lặng "
                        f"{q_start:%H:%M}–{q_end:%H:%M}: tin sẽ bị hoãn. Hãy chọn khung ngoài giờ yên lặng.",
                        "window")
        minute += timedelta(minutes=1)


def _in_range(moment: time, start: time, end: time) -> bool:
    if start == end:
        return False
    return start <= moment < end if start < end else (moment >= start or moment < end)


def normalize(body: ScheduleIn, *, zone: ZoneInfo, now: datetime,
              quiet: tuple[time, time] = (time(0), time(0))) -> dict[str, Any]:
    """Validate a schedule and return the JSON stored on the campaign (without next_run_at)."""
    kinds = [k for k in ("at", "cron", "every") if getattr(body, k) is not None]
    if len(kinds) != 1:
        raise _fail("Cần đúng một trong: \"at\" (một lần), \"cron\" hoặc \"every\" (lặp lại).", "at")
    if body.window is not None:
        _check_window(body.window, quiet)
    for slot in body.slots or []:
        if not _HHMM.match(slot):
            raise _fail(f"Khung giờ phát loa {slot!r} không hợp lệ; dùng HH:MM, ví dụ \"05:30\".", "slots")
    stored: dict[str, Any] = {
        "timezone": zone.key, "window": body.window.model_dump() if body.window else None,
        "slots": sorted(set(body.slots)) if body.slots else None, "set_at": now.astimezone(UTC).isoformat(),
    }
    if body.at is not None:
        at = _local(body.at, zone)
        if at <= now:
            raise _fail(f"Thời điểm gửi {fmt_local(at, zone)} đã qua; hãy chọn sau {fmt_local(now, zone)}.", "at")
        return {**stored, "kind": "once", "at": at.astimezone(zone).isoformat()}
    if body.cron is not None:
        try:
            fields = cron_fields(body.cron)
        except ValueError as exc:
            raise _fail(f"Biểu thức cron {body.cron!r} không hợp lệ ({exc}). Dạng đúng: phút giờ ngày tháng thứ, "
                        "ví dụ \"30 7 * * 1\" = 07:30 mỗi thứ Hai.", "cron") from None
    else:
        fields = _shorthand_fields(body)
    start = _local(body.start, zone) if body.start is not None else now.astimezone(zone)
    end = _local(body.end, zone, end_of_day=True) if body.end is not None else None
    if end is not None and end <= start:
        raise _fail(f"Ngày kết thúc ({fmt_local(end, zone)}) phải sau ngày bắt đầu ({fmt_local(start, zone)}).",
                    "end")
    if end is not None and end <= now:
        raise _fail(f"Ngày kết thúc {fmt_local(end, zone)} đã qua.", "end")
    stored.update(kind="recurring", cron=body.cron, every=body.every, days=body.days, day=body.day,
                  time=body.time, fields=fields, start=start.isoformat(), end=end.isoformat() if end else None)
    if next_after(stored, max(now, start) - timedelta(seconds=1)) is None:
        raise _fail("Lịch không có lần chạy nào từ ngày bắt đầu đến ngày kết thúc; hãy kéo dài khoảng ngày "
                    "hoặc đổi ngày/giờ chạy.", "end")
    return stored


def trigger_for(schedule: dict[str, Any]) -> CronTrigger | None:
    """The recurring schedule's CronTrigger (in its time zone), or None for a one-off."""
    if schedule.get("kind") != "recurring":
        return None
    zone = ZoneInfo(schedule["timezone"])
    end = datetime.fromisoformat(schedule["end"]) if schedule.get("end") else None
    return CronTrigger(**schedule["fields"], start_date=datetime.fromisoformat(schedule["start"]),
                       end_date=end, timezone=zone)


def next_after(schedule: dict[str, Any], after: datetime, trigger: CronTrigger | None = None) -> datetime | None:
    """The first occurrence strictly after `after` (UTC), or None when there is none."""
    if schedule.get("kind") == "once":
        at = datetime.fromisoformat(schedule["at"]).astimezone(UTC)
        return at if at > after else None
    trigger = trigger or trigger_for(schedule)
    if trigger is None:
        return None
    # Cron has one-second resolution: ask from the next whole second.
    probe = after.replace(microsecond=0) + timedelta(seconds=1)
    found = trigger.get_next_fire_time(None, probe)
    return found.astimezone(UTC) if found else None


def occurrences(schedule: dict[str, Any], after: datetime, until: datetime, *, limit: int = 1000) -> list[datetime]:
    """Occurrences t with after < t <= until, oldest first, at most `limit`."""
    trigger = trigger_for(schedule)
    found: list[datetime] = []
    moment = next_after(schedule, after, trigger)
    while moment is not None and moment <= until and len(found) < limit:
        found.append(moment)
        moment = next_after(schedule, moment, trigger)
    return found


def window_intervals(schedule: dict[str, Any], occurrence: datetime) -> list[tuple[datetime, datetime]]:
    """The sending intervals (UTC) of one occurrence: each window day, never before the occurrence."""
    window = schedule.get("window")
    if not window:
        return []
    zone = ZoneInfo(schedule["timezone"])
    first = occurrence.astimezone(zone).date()
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    intervals = []
    for offset in range(int(window.get("days", 1))):
        day = first + timedelta(days=offset)
        lo = max(datetime.combine(day, start, tzinfo=zone), occurrence)
        hi = datetime.combine(day, end, tzinfo=zone)
        if hi > lo:
            intervals.append((lo.astimezone(UTC), hi.astimezone(UTC)))
    return intervals


def window_capacity_seconds(window: WindowIn | dict[str, Any]) -> float:
    """Seconds of sending one occurrence's window offers (all its days)."""
    data = window.model_dump() if isinstance(window, WindowIn) else window
    span = datetime.combine(date.min, time.fromisoformat(data["end"])) - datetime.combine(
        date.min, time.fromisoformat(data["start"]))
    return span.total_seconds() * int(data.get("days", 1))


def usable_seconds(total: float) -> float:
    """Seconds the spread uses: a small tail is kept free so retries and rate jitter stay inside."""
    return max(total - min(60.0, total * 0.05), 0.0)


def deadline(schedule: dict[str, Any], occurrence: datetime, *, grace_seconds: float,
             expires_at: datetime | None = None) -> datetime:
    """The last moment a run of this occurrence may still start: window end, or occurrence + grace."""
    intervals = window_intervals(schedule, occurrence)
    limit = intervals[-1][1] if intervals else occurrence + timedelta(seconds=grace_seconds)
    return min(limit, expires_at) if expires_at is not None else limit


def airing_times(slots: list[str], start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Loudspeaker slot times (UTC) in [start, end) for local HH:MM slots."""
    found = []
    day = start.astimezone(zone).date()
    while datetime.combine(day, time(0), tzinfo=zone) < end:
        for slot in sorted(slots):
            moment = datetime.combine(day, time.fromisoformat(slot), tzinfo=zone)
            if start <= moment < end:
                found.append(moment.astimezone(UTC))
        day += timedelta(days=1)
    return found
