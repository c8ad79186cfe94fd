"""How the province answers residents' questions, in public: per commune and for the province, questions received,
answered, answered within 3 working days, median response time; by legal topic and by month. Counted from the
inbox's conversations (one per resident's question thread), by the commune the resident lives in; nothing
about a resident leaves this module but counts and times.

Working days skip weekends and Vietnam's public holidays (the `holidays` package). Figures are cached for
PUBLIC_CACHE_SECONDS per database, so the public page costs the database one grouped read per period.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays
from sqlalchemy import select
from sqlmodel import Session, col

from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.engagement.models import Conversation

WORKING_DAYS = 3  # the answer time the province commits to


@lru_cache(maxsize=16)
def _holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def deadline(asked: date, working_days: int = WORKING_DAYS) -> date:
    """The last day an answer counts as on time: `working_days` working days after the day of the question."""
    day, left = asked, working_days
    while left:
        day += timedelta(days=1)
        left -= is_working_day(day)
    return day


@dataclass
class Tally:
    received: int = 0
    answered: int = 0
    on_time: int = 0
    hours: list[float] = field(default_factory=list)

    def add(self, asked: datetime, answered: datetime | None, zone: Any) -> None:
        self.received += 1
        if answered is None:
            return
        self.answered += 1
        self.hours.append(max(0.0, (answered - asked).total_seconds() / 3600))
        if answered.astimezone(zone).date() <= deadline(asked.astimezone(zone).date()):
            self.on_time += 1

    def out(self) -> dict[str, Any]:
        return {"received": self.received, "answered": self.answered,
                "answered_share": round(self.answered / self.received, 4) if self.received else None,
                "answered_within_3_working_days": self.on_time,
                "within_3_working_days_share": round(self.on_time / self.received, 4) if self.received else None,
                "median_response_hours": round(statistics.median(self.hours), 2) if self.hours else None}


def compute(session: Session, settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """The figures, read now: province, communes (every commune of the province, questions or not), topics, months."""
    zone = settings.zone
    province = Tally()
    communes: dict[str, Tally] = defaultdict(Tally)
    topics: dict[str, Tally] = defaultdict(Tally)
    months: dict[str, Tally] = defaultdict(Tally)
    rows = session.execute(select(col(Conversation.created_at), col(Conversation.first_response_at),
                                  col(Conversation.topics), col(Contact.commune_code))
                           .select_from(Conversation)
                           .outerjoin(Contact, col(Contact.id) == col(Conversation.contact_id)))
    for asked, answered, tags, commune in rows:
        for tally in (province, communes[commune or ""], months[asked.astimezone(zone).strftime("%Y-%m")]):
            tally.add(asked, answered, zone)
        for topic in tags or ["(chưa phân loại)"]:
            topics[topic].add(asked, answered, zone)
    names = {code: name for code, name in session.execute(
        select(col(Commune.code), col(Commune.name)).where(col(Commune.province_code) == settings.province_code))}
    codes = sorted(set(names) | {c for c in communes if c})
    out_communes = [{"code": code, "name": names.get(code, code), **communes[code].out()} for code in codes]
    if communes.get(""):  # residents the inbox cannot place in a commune (unknown numbers)
        out_communes.append({"code": "", "name": "Không rõ xã/phường", **communes[""].out()})
    return {"as_of": (now or utcnow()).isoformat(), "working_days": WORKING_DAYS, "province": province.out(),
            "communes": out_communes,
            "topics": [{"topic": topic, **tally.out()} for topic, tally in sorted(topics.items())],
            "months": [{"month": month, **tally.out()} for month, tally in sorted(months.items())]}


_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def figures(session: Session, settings: Settings) -> dict[str, Any]:
    """`compute`, cached for PUBLIC_CACHE_SECONDS per database (the public page must not cost a read per visit)."""
    key = settings.database_url
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and time.monotonic() - hit[0] < settings.public_cache_seconds:
        return hit[1]
    value = compute(session, settings)
    with _LOCK:
        _CACHE[key] = (time.monotonic(), value)
    return value


def forget() -> None:
    """Drop the cached figures (tests, and after an erasure)."""
    with _LOCK:
        _CACHE.clear()


CSV_COLUMNS = [("code", "Mã xã"), ("name", "Xã/phường"), ("received", "Câu hỏi nhận được"),
               ("answered", "Đã trả lời"), ("answered_within_3_working_days", "Trả lời trong 3 ngày làm việc"),
               ("within_3_working_days_share", "Tỉ lệ trả lời trong 3 ngày làm việc"),
               ("median_response_hours", "Thời gian trả lời trung vị (giờ)")]
TOPIC_COLUMNS = [("topic", "Lĩnh vực"), *CSV_COLUMNS[2:]]
MONTH_COLUMNS = [("month", "Tháng"), *CSV_COLUMNS[2:]]


def table(data: dict[str, Any], kind: str) -> list[list[Any]]:
    """The open data as rows for CSV: communes (with the province first), topics or months."""
    if kind == "topics":
        columns, rows = TOPIC_COLUMNS, data["topics"]
    elif kind == "months":
        columns, rows = MONTH_COLUMNS, data["months"]
    else:
        columns = CSV_COLUMNS
        rows = [{"code": "", "name": "Toàn tỉnh", **data["province"]}, *data["communes"]]
    return [[header for _, header in columns]] + [[row.get(key) for key, _ in columns] for row in rows]
