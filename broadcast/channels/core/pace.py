"""When queued messages can go: the spans closed to sending (quiet hours, outside a calling window) and an
estimate of when a backlog is through, at a rate budget, around those spans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from broadcast.channels.core import rules

HORIZON = timedelta(days=62)  # sending that would take longer than this from the first message: no estimate


@dataclass(frozen=True)
class Closed:
    """A daily local span [start, end) closed to sending (it may wrap past midnight; start == end: never)."""

    start: time
    end: time


def opens_at(moment: datetime, closed: Sequence[Closed], zone: ZoneInfo) -> datetime:
    """`moment` when no span holds it, else the first instant after it that none holds."""
    for _ in range(2 * len(closed) + 2):  # leaving one span may land inside another: at most once each
        later = moment
        for span in closed:
            later = rules.quiet_hours_end(later, span.start, span.end, zone)
        if later == moment:
            return moment
        moment = later
    return moment


def closes_at(moment: datetime, closed: Sequence[Closed], zone: ZoneInfo) -> datetime:
    """The next instant after `moment` at which one of the spans begins."""
    local = moment.astimezone(zone)
    starts = []
    for span in closed:
        if span.start == span.end:
            continue
        candidate = datetime.combine(local.date(), span.start, tzinfo=zone)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), span.start, tzinfo=zone)
        starts.append(candidate.astimezone(ZoneInfo("UTC")))
    return min(starts) if starts else moment + HORIZON


def finish_time(arrivals: Sequence[tuple[datetime, int]], per_second: float, closed: Sequence[Closed],
                zone: ZoneInfo, *, now: datetime) -> datetime | None:
    """When the last of the messages is sent, each batch (time it may go, count) taken at `per_second`
    while no span is closed; None when nothing waits or the answer lies beyond HORIZON."""
    pending = sorted((max(at, now), n) for at, n in arrivals if n > 0)
    if not pending or per_second <= 0:
        return None
    cursor, backlog, index = pending[0][0], 0.0, 0
    while cursor - pending[0][0] < HORIZON:
        while index < len(pending) and pending[index][0] <= cursor:
            backlog += pending[index][1]
            index += 1
        if backlog <= 0:
            if index == len(pending):
                return cursor
            cursor = pending[index][0]
            continue
        opened = opens_at(cursor, closed, zone)
        if opened > cursor:
            cursor = opened
            continue  # batches that became due meanwhile join the backlog first
        end = closes_at(cursor, closed, zone)
        if index < len(pending):
            end = min(end, pending[index][0])
        capacity = (end - cursor).total_seconds() * per_second
        if backlog <= capacity:
            cursor += timedelta(seconds=backlog / per_second)
            backlog = 0
            if index == len(pending):
                return cursor
        else:
            backlog -= capacity
            cursor = end
    return None
