"""API shapes for campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import annotated_types as at
from pydantic import BaseModel, Field, field_validator, model_validator

from broadcast.bounds import (
    DESCRIPTION_LENGTH,
    MAX_LIST,
    MESSAGE_LENGTH,
    SCRIPT_LENGTH,
    TITLE_LENGTH,
    CommuneCode,
    DbId,
    LanguageCode,
    TagName,
    not_null,
)
from broadcast.campaigns.models import BulletinLevel

ALLOWED_CHANNELS = ("sms", "voice", "loudspeaker")


def _check_channels(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    bad = [c for c in value if c not in ALLOWED_CHANNELS]
    if bad or not value:
        raise ValueError(f"channels must be a non-empty subset of {list(ALLOWED_CHANNELS)}")
    return list(dict.fromkeys(value))


Channel = Literal["sms", "voice", "loudspeaker"]


class ContentIn(BaseModel):
    channel: str = Field(pattern="^(sms|voice|loudspeaker)$")
    language: str = Field(default="vi", pattern="^(vi|km)$")
    body: str = Field(min_length=1, max_length=SCRIPT_LENGTH)

    @model_validator(mode="after")
    def _sms_fits(self) -> ContentIn:
        if self.channel == "sms" and len(self.body) > MESSAGE_LENGTH:
            raise ValueError(f"an SMS body has at most {MESSAGE_LENGTH} characters")
        return self


class AudienceIn(BaseModel):
    communes: Annotated[list[CommuneCode], at.MaxLen(MAX_LIST)] = []
    groups: Annotated[list[DbId], at.MaxLen(MAX_LIST)] = []
    tags: Annotated[list[TagName], at.MaxLen(MAX_LIST)] = []
    languages: Annotated[list[LanguageCode], at.MaxLen(2)] = []


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class SendingRules(BaseModel):
    """A campaign's own sending rules, the same when creating and editing (None: the settings' default)."""

    quiet_hours_start: str | None = Field(default=None, pattern=HHMM)
    quiet_hours_end: str | None = Field(default=None, pattern=HHMM)
    daily_cap: int | None = Field(default=None, ge=0)
    expires_at: datetime | None = None
    rate_per_second: float | None = Field(default=None, gt=0)
    voice_machine_detection: str | None = Field(default=None, pattern="^(off|leave_message|hang_up)$")
    voice_max_retries: int | None = Field(default=None, ge=0, le=5)
    voice_retry_seconds: int | None = Field(default=None, ge=1)
    voice_window_start: str | None = Field(default=None, pattern=HHMM)
    voice_window_end: str | None = Field(default=None, pattern=HHMM)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 2026-12-01T17:00:00+07:00")
        return value


YES_WORDS = ("yes", "có", "co")
NO_WORDS = ("no", "không", "khong")
QUESTION_LENGTH = 300
CHOICE_LENGTH = 100
MAX_QUESTIONS = 10
MAX_QUIZ_HOURS = 24 * 30


class QuestionIn(BaseModel):
    """One quiz or survey question: multiple choice (2–4 choices), yes/no, or a number.

    `answer` is the right answer: a choice's 1-based index, "yes"/"no", or the number; leave it out for a
    survey question (every valid answer is counted, none is scored). Without `choices` the kind is yes/no when
    the answer is yes or no, a number when it is a number; `kind` says it for a survey question.
    """

    text: str = Field(min_length=1, max_length=QUESTION_LENGTH)
    choices: Annotated[list[Annotated[str, Field(min_length=1, max_length=CHOICE_LENGTH)]],
                       at.MinLen(2), at.MaxLen(4)] | None = None
    answer: int | float | str | None = Field(default=None, union_mode="left_to_right")
    kind: Literal["choice", "yes_no", "number"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> QuestionIn:
        answer = self.answer
        if isinstance(answer, str):
            word = answer.strip().lower()
            answer = "yes" if word in YES_WORDS else "no" if word in NO_WORDS else answer
        kind = self.kind or ("choice" if self.choices else "yes_no" if answer in ("yes", "no")
                             else "number" if answer is not None else None)
        if kind is None:
            raise ValueError("a survey question without choices needs kind: yes_no or number")
        if kind == "choice":
            if not self.choices:
                raise ValueError("a multiple-choice question needs 2 to 4 choices")
            if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int)
                                       or not 1 <= answer <= len(self.choices)):
                raise ValueError(f"answer must be the number of a choice, 1 to {len(self.choices)}")
        elif self.choices:
            raise ValueError(f"a {kind} question has no choices")
        elif kind == "yes_no" and answer not in (None, "yes", "no"):
            raise ValueError('the answer to a yes/no question is "yes" or "no"')
        elif kind == "number":
            if isinstance(answer, str):
                try:
                    answer = float(answer.replace(",", "."))
                except ValueError:
                    raise ValueError("the answer to a number question is a number") from None
            if isinstance(answer, float) and answer.is_integer():
                answer = int(answer)
            if answer is not None and (isinstance(answer, bool) or abs(answer) > 10**12):
                raise ValueError("the answer to a number question is a number")
        self.kind, self.answer = kind, answer
        return self


class QuizIn(BaseModel):
    """Questions a campaign asks after its message, by SMS replies and by keypad in its calls."""

    questions: Annotated[list[QuestionIn], at.MinLen(1), at.MaxLen(MAX_QUESTIONS)]
    first: Literal["with", "after"] = Field(
        default="with", description="the first question ends the campaign SMS (with) or follows it alone (after)")
    contest: bool = Field(default=False, description="a contest: scored, ranked, its answer key sent when it closes")
    answer_hours: int = Field(default=48, ge=1, le=MAX_QUIZ_HOURS,
                              description="a question left unanswered this long closes the resident's quiz")
    closes_at: datetime | None = Field(default=None, description="when the quiz (a contest) closes for everyone")

    @field_validator("closes_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone offset, e.g. 2026-12-01T17:00:00+07:00")
        return value

    @model_validator(mode="after")
    def _contest(self) -> QuizIn:
        if self.contest and self.closes_at is None:
            raise ValueError("a contest needs closes_at, when its answer key is sent")
        if self.contest and any(q.answer is None for q in self.questions):
            raise ValueError("every question of a contest needs its answer")
        return self


Contents = Annotated[list[ContentIn], at.MaxLen(6)]  # three channels in two languages
Channels = Annotated[list[Channel], at.MaxLen(3)]
SmsText = Annotated[str, Field(min_length=1, max_length=MESSAGE_LENGTH)]


class CampaignCreate(SendingRules):
    title: str = Field(min_length=1, max_length=TITLE_LENGTH)
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH)
    channels: Channels = ["sms"]
    audience: AudienceIn = AudienceIn()
    contents: Contents = []
    sms_text: SmsText | None = Field(default=None, description="Shortcut for the Vietnamese SMS content")
    bulletin_level: BulletinLevel = BulletinLevel.normal
    strip_diacritics: bool = False
    ask_rating: bool = False
    sms_fallback_for_voice: bool = False
    link_enabled: bool = False
    quiz: QuizIn | None = None

    _channels = field_validator("channels")(_check_channels)


class CampaignUpdate(SendingRules):
    title: str | None = Field(default=None, min_length=1, max_length=TITLE_LENGTH)
    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)
    channels: Channels | None = None
    audience: AudienceIn | None = None
    contents: Contents | None = None
    sms_text: SmsText | None = None
    bulletin_level: BulletinLevel | None = None
    strip_diacritics: bool | None = None
    ask_rating: bool | None = None
    sms_fallback_for_voice: bool | None = None
    link_enabled: bool | None = None
    quiz: QuizIn | None = Field(default=None, description="null removes the quiz; leave it out to keep it")

    _channels = field_validator("channels")(_check_channels)
    _not_null = field_validator("title", "description", "channels", "audience", "contents", "sms_text",
                                "bulletin_level", "strip_diacritics", "ask_rating", "sms_fallback_for_voice",
                                "link_enabled")(not_null)


class ReviewIn(BaseModel):
    comment: str = Field(default="", max_length=1000)


class CampaignPublic(BaseModel):
    id: int
    title: str
    description: str
    status: str
    channels: list[str]
    audience: dict[str, Any]
    schedule: dict[str, Any]
    contents: list[ContentIn]
    bulletin_level: str
    strip_diacritics: bool
    ask_rating: bool
    sms_fallback_for_voice: bool
    link_enabled: bool
    quiz: dict[str, Any] | None = None
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    daily_cap: int | None
    expires_at: datetime | None
    rate_per_second: float | None
    created_by_id: int | None
    approved_by_id: int | None
    approved_at: datetime | None
    review_comment: str
    created_at: datetime
    updated_at: datetime
    reachable: int | None = None
