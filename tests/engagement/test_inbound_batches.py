"""Group-committed incoming messages: a batch ends exactly as the same messages handled one at a time."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import session_scope, utcnow
from broadcast.engagement.inbound import InboundResult, handle_inbound, handle_inbound_batch
from broadcast.engagement.models import Conversation
from broadcast.events.models import EngagementEvent
from broadcast.group_commit import GroupCommit
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage
from tests.conftest import BOTH
from tests.engagement.conftest import inbound_params, signature
from tests.support.seed import approved_campaign, phone, seed_communes

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

BODIES = ["Cho hỏi thủ tục cấp sổ đỏ?", "Hỏi thêm về thừa kế", "STOP", "bắt đầu", "TROGIUP", "5", "3 sao",
          "DAPHAT XYZ123"]
RESIDENTS = 4  # senders 0-3 are residents (0 and 1 got a campaign that asked for a rating)
SENDERS = RESIDENTS + 2  # sender 4: a Vietnamese number nobody imported; sender 5: a foreign number
_runs = itertools.count()

# (sender, body) or, with a third element, a provider retry of the message at that earlier position.
entries = st.lists(st.tuples(st.integers(0, SENDERS - 1), st.integers(0, len(BODIES) - 1),
                             st.one_of(st.none(), st.integers(0, 40))), min_size=1, max_size=40)


def _sender_phone(base: int, sender: int) -> str:
    return phone(base + sender) if sender < SENDERS - 1 else f"+1415555{base + sender:04d}"


def _run(engine: Engine, campaign_id: int, plan: Sequence[tuple[int, int, int | None]],
         tag: str) -> tuple[int, list[dict[str, str]]]:
    """Residents for one run (their own numbers) and the webhook forms the plan describes."""
    base = next(_runs) * 10
    now = utcnow()
    with Session(engine) as session:
        session.execute(insert(Contact), [
            {"phone": phone(base + i), "full_name": "", "commune_code": "32248", "language": "vi",
             "sms_opted_out": False, "voice_opted_out": False, "address": "", "note": "",
             "consent_source": "import", "created_at": now, "updated_at": now} for i in range(RESIDENTS)])
        ids = session.exec(select(Contact.id).where(col(Contact.phone).in_([phone(base), phone(base + 1)]))).all()
        session.add_all(Delivery(campaign_id=campaign_id, contact_id=contact_id, to_phone=None, sent_at=now,
                                 status=DeliveryStatus.delivered, kind=DeliveryKind.campaign) for contact_id in ids)
        session.commit()
    forms: list[dict[str, str]] = []
    for position, (sender, body, retry_of) in enumerate(plan):
        if retry_of is not None and retry_of < position:
            forms.append(forms[retry_of])
        else:
            forms.append(inbound_params(_sender_phone(base, sender), BODIES[body], sid=f"SM{tag}{base}x{position}"))
    return base, forms


def _outcome(engine: Engine, base: int, forms: Sequence[dict[str, str]],
             results: Sequence[InboundResult]) -> dict[str, Any]:
    """What the run left behind, with ids replaced by positions so two runs compare."""
    with Session(engine) as session:
        ids = [r.message_id for r in results if r.message_id]
        messages = {m.id: m for m in session.exec(select(InboundMessage).where(col(InboundMessage.id).in_(ids)))}
        replies = {d.in_reply_to_id: (d.kind, d.body) for d in session.exec(
            select(Delivery).where(col(Delivery.in_reply_to_id).in_(ids)))}
        conversations = {c.id: c for c in session.exec(select(Conversation).where(col(Conversation.id).in_(
            [m.conversation_id for m in messages.values() if m.conversation_id])))}
        residents = session.exec(select(Contact).where(
            col(Contact.phone).in_([phone(base + i) for i in range(RESIDENTS)])).order_by(col(Contact.phone))).all()
        events = Counter(e.kind for e in session.exec(select(EngagementEvent).where(
            col(EngagementEvent.dedupe_key).in_([f"in:{form['MessageSid']}" for form in forms]))))
    labels: dict[int, int] = {}  # conversation id -> order of first appearance
    per_message = []
    for result in results:
        message = messages.get(result.message_id or 0)
        conversation = message.conversation_id if message else None
        if conversation is not None:
            labels.setdefault(conversation, len(labels))
        per_message.append((result.duplicate, result.classification, message.rating if message else None,
                            replies.get(result.message_id), labels.get(conversation) if conversation else None,
                            conversations[conversation].status if conversation else None))
    return {"messages": per_message, "events": events,
            "opted_out": [(c.sms_opted_out, c.voice_opted_out, c.opt_out_source) for c in residents]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=entries)
def test_a_batch_ends_as_the_same_messages_one_at_a_time(engine: Engine, plan: list[tuple[int, int, int | None]]
                                                         ) -> None:
    seed_communes(engine)
    campaign_id = approved_campaign(engine, ask_rating=True)
    base_a, one_by_one = _run(engine, campaign_id, plan, "a")
    results_a = []
    for form in one_by_one:
        with session_scope(engine) as session:
            results_a.append(handle_inbound(session, form))
    base_b, batch = _run(engine, campaign_id, plan, "b")
    with session_scope(engine) as session:
        results_b = handle_inbound_batch(session, batch)
    assert _outcome(engine, base_b, batch, results_b) == _outcome(engine, base_a, one_by_one, results_a)


def test_a_batch_skips_messages_stored_by_an_earlier_one(engine: Engine) -> None:
    seed_communes(engine)
    first = inbound_params(phone(1), "Cho hỏi?", sid="SMearly")
    with session_scope(engine) as session:
        assert not handle_inbound(session, first).duplicate
    with session_scope(engine) as session:
        results = handle_inbound_batch(session, [first, inbound_params(phone(1), "Hỏi nữa", sid="SMlate"), {}])
    assert [r.duplicate for r in results] == [True, False, False]
    assert results[2].message_id is None  # a form without a MessageSid is ignored
    with Session(engine) as session:
        assert len(session.exec(select(InboundMessage)).all()) == 2
        assert len(session.exec(select(Conversation)).all()) == 1


def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_is_written() -> None:
    written: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("unlucky")
        written.append(items)
        return [item * 2 for item in items]

    batcher: GroupCommit[int, int] = GroupCommit(write, name="numbers")

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.submit(i) for i in (1, 13, 3)), return_exceptions=True)

    answers = asyncio.run(main())
    assert answers[0] == 2 and answers[2] == 6 and isinstance(answers[1], ValueError)
    assert written == [[1], [3]]  # the batch [1, 13, 3] failed, then each was written alone


def test_requests_waiting_together_share_one_write() -> None:
    sizes: list[int] = []

    def write(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batcher: GroupCommit[int, int] = GroupCommit(write, name="numbers", max_batch=20)

    async def main() -> list[int]:
        return await asyncio.gather(*(batcher.submit(i) for i in range(50)))

    assert asyncio.run(main()) == list(range(50))  # each caller gets its own item's result
    assert sizes == [20, 20, 10]  # everything queued together is written together, max_batch at a time


def test_concurrent_webhooks_are_group_committed_and_none_is_lost(live_app: str, live_engine: Engine,
                                                                  live_settings: Settings) -> None:
    """200 signed requests at once (40 of them Twilio retries) on `uvicorn`: each stored once."""
    seed_communes(live_engine)
    forms = [inbound_params(phone(i % 50), BODIES[i % 2], sid=f"SMlive{i:04d}") for i in range(160)]
    forms += forms[:40]
    path = "/webhooks/twilio/sms"

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(base_url=live_app, timeout=30) as client:
            responses = await asyncio.gather(*(client.post(path, data=form, headers={
                "X-Twilio-Signature": signature(live_settings, path, form)}) for form in forms))
        return [r.status_code for r in responses]

    assert asyncio.run(post_all()) == [200] * 200
    with Session(live_engine) as session:
        stored = session.exec(select(InboundMessage.provider_sid)).all()
        assert sorted(stored) == sorted(f"SMlive{i:04d}" for i in range(160))
        conversations = session.exec(select(Conversation)).all()
        assert len(conversations) == 50  # one per unknown number, however the requests were batched
        assert len(session.exec(select(EngagementEvent)).all()) == 160
