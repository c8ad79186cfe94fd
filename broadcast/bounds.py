"""Bounds on what a request may ask for, declared once and used by every route and page.

A number no row can have, an offset past any table or a page beyond the last cannot be answered by the
database (SQLite refuses integers above 2^63 − 1, PostgreSQL above its BIGINT): they are refused at the
edge with a 422 that names the parameter, and the OpenAPI document shows the range.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, TypeVar

import annotated_types as at
from pydantic import StringConstraints

T = TypeVar("T")

MAX_ID = 2**31 - 1  # the largest INTEGER, the type of most ids in PostgreSQL
MAX_BIG_ID = 2**63 - 1  # the largest BIGINT: deliveries, events and other tables that grow without end
MAX_OFFSET = 100_000_000  # past any table this service keeps
MAX_PAGE = 1_000_000

DbId = Annotated[int, at.Ge(1), at.Le(MAX_ID)]
BigDbId = Annotated[int, at.Ge(1), at.Le(MAX_BIG_ID)]
Offset = Annotated[int, at.Ge(0), at.Le(MAX_OFFSET)]
PageNumber = Annotated[int, at.Ge(1), at.Le(MAX_PAGE)]

# Lengths of free text people type: enough for any real use, bounded so one request cannot store megabytes.
NAME_LENGTH = 200
TITLE_LENGTH = 200
NOTE_LENGTH = 2_000
DESCRIPTION_LENGTH = 5_000
MESSAGE_LENGTH = 1_600  # Twilio's limit for one SMS body (ten UCS-2 segments and more)
SCRIPT_LENGTH = 20_000  # an audio script: about 40 minutes read aloud
MAX_LIST = 1_000  # ids, groups or communes in one request

CommuneCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,5}$")]
PhoneInput = Annotated[str, StringConstraints(max_length=32)]  # any way people write a number
TagName = Annotated[str, StringConstraints(min_length=1, max_length=60)]
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=120)]
HhMm = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
SearchText = Annotated[str, StringConstraints(max_length=NAME_LENGTH)]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^(vi|km)$")]


def not_null(value: T | None) -> T:
    """A field validator for partial updates: `null` for a field that cannot be empty is an error (leave the
    field out to keep its value); validators run only for fields given, so omitted ones stay untouched."""
    if value is None:
        raise ValueError("cannot be null (leave it out to keep the current value)")
    return value
PhoneName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]  # a gateway phone
Word = Annotated[str, StringConstraints(max_length=60)]  # a status, keyword, topic or entity name
ReportDay = Annotated[date, at.Ge(date(2000, 1, 1)), at.Le(date(2100, 12, 31))]  # no report spans centuries


def parse_count(text: str | None, *, maximum: int = MAX_BIG_ID) -> int | None:
    """A non-negative integer written in ASCII digits and no larger than `maximum`, else None.

    str.isdigit() accepts "²" and other Unicode digits that int() then refuses, and any number of digits:
    values from webhooks and forms go through here instead.
    """
    if not text or len(text) > 19 or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= maximum else None
