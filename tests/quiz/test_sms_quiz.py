"""A 200-resident quiz end to end: the campaign SMS carries the first question, residents answer through the
simulator in every accepted form (some invalid, some twice, some opting out mid-quiz, some never), each valid
answer brings the next question, and the results equal an independent count from the messages sent here."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.contacts.models import ContactGroup, GroupMember
from broadcast.engagement.models import Conversation
from broadcast.outbox.models import InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.quiz.conftest import QUESTIONS, Officers
from tests.support.seed import COMMUNES, phone, seed_contacts

pytestmark = BOTH  # row locks and RETURNING differ between the databases

RESIDENTS = 200
RIGHT = [2, "no", 1]  # the answer key of QUESTIONS
CHOICES = [list(q.get("choices") or []) for q in QUESTIONS]
CHOICE_FORMS = ["{l}", "{L}", "đáp án {L}", "Đáp án: {l}", "{n}", "chọn {L}", "{L}."]
YES_FORMS = ["có", "Có", "co", "CO", "yes", "1", "dạ có"]
NO_FORMS = ["không", "khong", "Không.", "ko", "KHONG", "2"]
OPT_OUTS = ["TC", "Huỷ", "Đúng"]  # "Đúng" folds to DUNG (dừng): opting out wins over a quiz answer
INVALID = ["E", "hmm", "Cho hỏi thêm về thủ tục", "5 sao", "..."]


@dataclass
class Resident:
    """What one resident sends, and what that means (the test's own count, from the raw messages)."""

    index: int
    rounds: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    counted: dict[int, object] = field(default_factory=dict)  # question → the value meant
    opted_out: bool = False
    hints: int = 0
    to_inbox: int = 0

    @property
    def phone(self) -> str:
        return phone(self.index)


def written(question: int, value: object, rng: random.Random) -> str:
    if question == 1:
        return rng.choice(YES_FORMS if value == "yes" else NO_FORMS)
    index = int(str(value))
    return rng.choice(CHOICE_FORMS).format(l="abcd"[index - 1], L="ABCD"[index - 1], n=index)


def plan(rng: random.Random) -> list[Resident]:
    """Each resident's behaviour by their number: never, opting out, invalid once, twice, duplicates, …"""
    residents = []
    for i in range(RESIDENTS):
        r = Resident(i)
        kind = i % 10
        for q in range(3):
            if kind == 0 or (kind == 6 and q > 0):  # never answers / stops after the first question
                break
            if kind == 1 and q == 1:  # opts out in the middle
                r.rounds[q].append(OPT_OUTS[(i // 10) % 3])
                r.opted_out = True
                break
            value: object = RIGHT[q] if rng.random() < 0.6 else (
                ("yes" if RIGHT[q] == "no" else "no") if q == 1 else rng.choice(
                    [n for n in range(1, len(CHOICES[q]) + 1) if n != RIGHT[q]]))
            if kind == 2 and q == 0:  # something unreadable first: the question comes again with a hint
                r.rounds[q].append(rng.choice(INVALID))
                r.hints += 1
            if kind == 3 and q == 1:  # unreadable twice: one hint, then the inbox has it
                r.rounds[q] += ["Tôi chưa hiểu lắm, xin giải thích", "hmm"]
                r.hints += 1
                r.to_inbox += 1
            text = written(q, value, rng)
            r.rounds[q].append(text)
            if kind == 4:  # sent twice before the next question came: counted once
                r.rounds[q].append(text)
            r.counted[q] = value
        if kind == 5:  # answers again once finished: each resident answers once
            r.rounds[3].append("A")
        residents.append(r)
    return residents


def test_two_hundred_residents_take_the_quiz(officers: Officers, live_engine: Engine, sim: TwilioSimulator,
                                             replies: Callable[[dict[str, list[str]]], None],
                                             deliver: Callable[[], None]) -> None:
    for n, (code, _) in enumerate(COMMUNES):  # residents i with i % 3 == n live in commune n
        for start in range(n, RESIDENTS, 3):
            seed_contacts(live_engine, 1, start=start, commune=code)
    with Session(live_engine) as session:
        group = ContactGroup(name="Hội Nông dân")
        session.add(group)
        session.flush()
        assert group.id is not None
        for i in range(50):
            session.add(GroupMember(contact_id=i + 1, group_id=group.id))
        session.commit()
        group_id = group.id
    residents = plan(random.Random(19))
    campaign_id = officers.campaign({"questions": QUESTIONS, "answer_hours": 24})
    deliver()
    first = [m for m in sim.messages if m.to == phone(7)]
    assert len(first) == 1 and first[0].body.startswith("UBND xa") and "Cau 1/3" in first[0].body
    assert "A. 1/1/2025" in first[0].body and "Tra loi A, B, C" in first[0].body

    for round_ in range(4):
        replies({r.phone: r.rounds.get(round_, []) for r in residents})
        deliver()

    # What each resident got back, from the simulator's record of what the app sent.
    got: dict[str, list[str]] = defaultdict(list)
    for message in sim.messages:
        got[message.to].append(message.body)
    for r in residents:
        bodies = got[r.phone]
        assert sum("Chua hieu" in b for b in bodies) == r.hints, (r.index, bodies)
        asked = [b for b in bodies if "Cau 2/3" in b and "Chua hieu" not in b]
        assert len(asked) == (1 if 0 in r.counted else 0), (r.index, bodies)  # duplicates bring nothing
        if len(r.counted) == 3:
            score = sum(1 for q, v in r.counted.items() if v == RIGHT[q])
            assert any(f"Ban tra loi dung {score}/3" in b for b in bodies), (r.index, bodies)
            assert sum("Cau 3/3" in b and "Chua hieu" not in b for b in bodies) == 1
        if r.opted_out:
            assert any("BATDAU" in b for b in bodies) and not any("Cau 3/3" in b for b in bodies), bodies

    expected_questions = [{"answered": sum(1 for r in residents if q in r.counted),
                           "correct": sum(1 for r in residents if r.counted.get(q) == RIGHT[q])} for q in range(3)]
    participants = sum(1 for r in residents if r.counted)
    completed = sum(1 for r in residents if len(r.counted) == 3)
    results = officers.get(f"/campaigns/{campaign_id}/quiz/results")
    assert (results["participants"], results["completed"]) == (participants, completed)
    assert [{k: q[k] for k in ("answered", "correct")} for q in results["questions"]] == expected_questions

    full = officers.get(f"/metrics/campaigns/{campaign_id}/quiz")
    by_commune = {row["commune_code"]: row for row in full["communes"]}
    for n, (code, _) in enumerate(COMMUNES):
        mine = [r for r in residents if r.index % 3 == n and r.counted]
        assert by_commune[code]["participants"] == len(mine)
        assert by_commune[code]["correct"] == sum(1 for r in mine for q, v in r.counted.items() if v == RIGHT[q])
    grouped = {row["group_id"]: row for row in full["groups"]}
    members = [r for r in residents if r.index < 50 and r.counted]
    assert grouped[group_id]["participants"] == len(members)
    assert grouped[group_id]["completed"] == sum(1 for r in members if len(r.counted) == 3)

    with Session(live_engine) as session:
        inbox = session.exec(select(InboundMessage).where(InboundMessage.classification == "question")).all()
        assert len(inbox) == sum(r.to_inbox for r in residents)
        assert all(m.conversation_id is not None for m in inbox)
        assert session.exec(select(Conversation)).all()
        kinds = Counter(session.exec(select(InboundMessage.classification)
                                     .where(col(InboundMessage.campaign_id) == campaign_id)).all())
        assert kinds["opt_out"] == sum(1 for r in residents if r.opted_out)
