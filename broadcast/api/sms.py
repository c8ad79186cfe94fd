"""JSON routes for SMS: segment/cost estimate, test sends, delivery records."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session

from broadcast.accounts.deps import EDITORS, CurrentUser, require, sees_phones
from broadcast.accounts.models import User
from broadcast.bounds import BigDbId, DbId, PhoneInput
from broadcast.config import Settings
from broadcast.contacts.service import get_contact
from broadcast.db import utcnow
from broadcast.deps import SessionDep, SettingsDep
from broadcast.flows.waiting import Waiting, delivery_waiting, local_iso
from broadcast.outbox import queue as service
from broadcast.outbox.models import Delivery
from broadcast.outbox.segments import estimate
from broadcast.phones import mask_phone

router = APIRouter(tags=["sms"])


class EstimateIn(BaseModel):
    text: str = Field(max_length=1600)
    strip_diacritics: bool = False


class EstimateOut(BaseModel):
    encoding: str
    segments: int
    characters: int
    text: str
    units_per_segment: int
    remaining: int
    cost: float
    price_unit: str


class TestSendIn(BaseModel):
    to: PhoneInput = Field(description="Phone number in any Vietnamese format")
    text: str = Field(min_length=1, max_length=1600)


class DeliveryOut(BaseModel):
    id: int
    campaign_id: DbId | None
    run_id: DbId | None
    contact_id: DbId | None
    to_phone: str | None
    channel: str
    kind: str
    status: str
    provider_sid: str | None
    provider_status: str | None
    error_code: int | None
    error_message: str | None
    attempts: int
    segments: int | None
    next_attempt_at: datetime | None
    waiting_reason: str | None = Field(None, description="why a queued message waits (as in the campaign counts)")
    waiting_until: str | None = Field(None, description="local ISO 8601 time it may go; null: unknown")
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@router.post("/sms/estimate", response_model=EstimateOut, summary="Encoding, segments and cost of an SMS text")
def sms_estimate(data: EstimateIn, settings: SettingsDep) -> EstimateOut:
    result = estimate(data.text, strip=data.strip_diacritics, price_per_segment=settings.sms_price_per_segment)
    return EstimateOut.model_validate({**result.to_dict(), "price_unit": settings.sms_price_unit})


@router.post("/sms/test", status_code=201, response_model=DeliveryOut,
             summary="Send one test SMS through the normal dispatcher (no quiet hours or caps)")
def sms_test(data: TestSendIn, session: SessionDep, settings: SettingsDep,
             user: User = Depends(require(*EDITORS))) -> DeliveryOut:
    return _records(session, settings, [service.send_test(session, to=data.to, body=data.text, actor=user)], user)[0]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut,
            summary="One delivery; a queued one says why it waits (`waiting_reason`) and until when")
def get_delivery(delivery_id: BigDbId, session: SessionDep, settings: SettingsDep, user: CurrentUser) -> DeliveryOut:
    return _records(session, settings, [service.get_delivery(session, delivery_id)], user)[0]


@router.get("/contacts/{contact_id}/deliveries", response_model=list[DeliveryOut],
            summary="A resident's delivery history, newest first")
def contact_deliveries(contact_id: DbId, session: SessionDep, settings: SettingsDep, user: CurrentUser
                       ) -> list[DeliveryOut]:
    get_contact(session, contact_id)
    return _records(session, settings, service.contact_history(session, contact_id), user)


def _records(session: Session, settings: Settings, deliveries: list[Delivery], user: User) -> list[DeliveryOut]:
    waiting = delivery_waiting(session, settings, deliveries, now=utcnow())
    return [_masked(d, user, waiting.get(d.id or 0), settings) for d in deliveries]


def _masked(delivery: Delivery, user: User, waiting: Waiting | None, settings: Settings) -> DeliveryOut:
    out = DeliveryOut.model_validate(delivery.model_dump())
    out.waiting_reason = waiting.reason if waiting is not None else None
    out.waiting_until = local_iso(waiting.until, settings) if waiting is not None else None
    if not sees_phones(user):
        out.to_phone = mask_phone(out.to_phone)
    return out
