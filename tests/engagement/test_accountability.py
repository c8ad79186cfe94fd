"""The public accountability page and its open data: the inbox's figures per commune (received, answered, within 3
working days, median hours), published answers anonymised and approved first, and no resident's number or name
anywhere on the page or in its exports."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.communes.models import Commune
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.engagement import accountability
from broadcast.engagement.accountability import deadline
from broadcast.engagement.inbound import handle_inbound
from broadcast.engagement.models import Conversation
from tests.conftest import BOTH, make_user
from tests.support.seed import COMMUNES, seed_communes

pytestmark = BOTH

NAMES = ["Trần Thị Bích Ngọc", "Lê Văn Tám", "Nguyễn Hữu Phước", "Huỳnh Kim Xuyến", "Đặng Quốc Thắng",
         "Phạm Mỹ Duyên"]
PHONES = [f"+8497{i:07d}" for i in (1234567, 2345678, 3456789, 4567890, 5678901, 6789012)]
# (resident, asked at (UTC), answered after) — 2026-08-28 is a Friday; Mon 31 Aug to Wed 2 Sep are the National
# Day holidays, so its 3 working days end on Mon 7 Sep
ASKED = [
    (0, datetime(2026, 8, 28, 3, tzinfo=UTC), timedelta(days=10)),  # Mon 7 Sep: on time
    (1, datetime(2026, 8, 28, 3, tzinfo=UTC), timedelta(days=11)),  # Tue 8 Sep: late
    (2, datetime(2026, 9, 7, 2, tzinfo=UTC), timedelta(hours=5)),
    (3, datetime(2026, 9, 7, 4, tzinfo=UTC), None),  # not answered yet
    (4, datetime(2026, 10, 1, 1, tzinfo=UTC), timedelta(hours=30)),
    (5, datetime(2026, 10, 2, 1, tzinfo=UTC), timedelta(hours=2)),
]


def test_working_days_skip_weekends_and_holidays() -> None:
    assert deadline(datetime(2026, 8, 28).date()).isoformat() == "2026-09-07"  # Thu 3, Fri 4, (weekend), Mon 7
    assert deadline(datetime(2026, 9, 7).date()).isoformat() == "2026-09-10"


def seed(engine: Engine) -> list[int]:
    """Six residents in three communes ask; officers answer at the times above. The conversations' ids."""
    seed_communes(engine)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(Contact), [
            {"phone": PHONES[i], "full_name": NAMES[i], "commune_code": COMMUNES[i % 3][0], "language": "vi",
             "sms_opted_out": False, "voice_opted_out": False, "address": f"Ấp Cái Cám {i}", "note": "",
             "consent_source": "import", "created_at": now, "updated_at": now} for i in range(6)])
    ids = []
    with Session(engine) as session:
        for resident, asked, after in ASKED:
            national = "0" + PHONES[resident][3:]
            handle_inbound(session, {"MessageSid": f"SMacc{resident}", "From": PHONES[resident],
                                     "Body": f"Tôi là {NAMES[resident]} ở ấp Cái Cám, số {national}. "
                                             "Cho hỏi thủ tục cấp sổ đỏ lần đầu?"})
            conversation = session.exec(select(Conversation).order_by(col(Conversation.id).desc())).first()
            assert conversation is not None and conversation.id is not None
            ids.append(conversation.id)
            session.execute(update(Conversation).where(col(Conversation.id) == conversation.id).values(
                created_at=asked, first_response_at=asked + after if after else None,
                status="answered" if after else "new", topics=["đất đai"] if resident % 2 else []))
        session.commit()
    return ids


def inbox_figures(client: Any) -> dict[str, dict[str, Any]]:
    """The same figures from the staff inbox API, computed here: per commune of the asking resident."""
    items = client.get("/api/v1/inbox", params={"limit": 500}).json()["items"]
    by: dict[str, list[float | None]] = defaultdict(list)
    for item in items:
        commune = client.get(f"/api/v1/contacts/{item['contact_id']}").json()["commune_code"]
        by[commune].append(item["response_seconds"])
    return {code: {"received": len(times), "answered": sum(1 for s in times if s is not None),
                   "median_response_hours": round(statistics.median([s / 3600 for s in times if s is not None]), 2)}
            for code, times in by.items()}


def test_the_public_page_equals_the_inbox_and_names_no_one(client_with: Callable[..., Any], engine: Engine,
                                                           anonymous_client: Any) -> None:
    conversations = seed(engine)
    staff = client_with(public_cache_seconds=0)
    accountability.forget()
    data = anonymous_client.get("/public/accountability.json")
    assert data.status_code == 200 and "public" in data.headers["cache-control"]
    figures = data.json()
    by_code = {row["code"]: row for row in figures["communes"]}
    for code, expected in inbox_figures(staff).items():
        assert {k: by_code[code][k] for k in expected} == expected, code
    assert figures["province"]["received"] == 6 and figures["province"]["answered"] == 5
    assert figures["province"]["answered_within_3_working_days"] == 4  # a Friday question answered on the 8th
    assert [m["month"] for m in figures["months"]] == ["2026-08", "2026-09", "2026-10"]
    assert {t["topic"]: t["received"] for t in figures["topics"]} == {"(chưa phân loại)": 3, "đất đai": 3}
    assert len(by_code) >= 3 and {row["code"] for row in figures["communes"]} >= {c for c, _ in COMMUNES}

    # An officer proposes the first conversation; the draft is anonymised, an approver publishes it.
    officer = {"Authorization": f"Bearer {make_user(engine, 'officer')}"}
    approver = {"Authorization": f"Bearer {make_user(engine, 'approver')}"}
    answered = staff.post(f"/api/v1/inbox/{conversations[0]}/answer", json={"text": "Hồ sơ nộp tại UBND xã."})
    assert answered.status_code == 201
    proposed = staff.post(f"/api/v1/inbox/{conversations[0]}/publication", json={}, headers=officer)
    assert proposed.status_code == 201, proposed.text
    draft = proposed.json()
    assert draft["status"] == "pending" and NAMES[0] not in draft["question"] and "Cái Cám" not in draft["question"]
    assert "[người hỏi]" in draft["question"] and "[số điện thoại]" in draft["question"]
    assert draft["commune_code"] == COMMUNES[0][0]
    assert anonymous_client.get("/public/accountability", params={"q": "so do"}).text.count('class="qa"') == 0
    own = staff.post(f"/api/v1/inbox/{conversations[2]}/publication", headers=approver, json={})
    assert own.status_code == 403  # approvers publish, officers propose
    # Written without accents the name slips past the draft's replacements: the approval refuses it.
    sly = staff.post(f"/api/v1/inbox/{conversations[2]}/publication", headers=officer,
                     json={"question": "Nguyen Huu Phuoc hoi ve so do?", "answer": "Nop ho so tai xa."})
    assert sly.status_code == 201
    refused = staff.post(f"/api/v1/publications/{sly.json()['id']}/approve", headers=approver)
    assert refused.status_code == 422 and "tên người hỏi" in refused.json()["message"]
    assert staff.post(f"/api/v1/publications/{draft['id']}/approve", headers=approver).status_code == 200
    page = anonymous_client.get("/public/accountability", params={"q": "so do"})
    assert page.status_code == 200 and page.text.count('class="qa"') == 1 and "Hồ sơ nộp tại UBND xã." in page.text
    assert anonymous_client.get("/public/accountability", params={"q": "thừa kế"}).text.count('class="qa"') == 0

    # No resident's number or name anywhere: the page, its JSON and every CSV.
    exports = [anonymous_client.get(path).text for path in (
        "/public/accountability", "/public/accountability.json", "/public/accountability.csv",
        "/public/accountability.csv?table=topics", "/public/accountability.csv?table=months",
        "/public/accountability?q=so")]
    with Session(engine) as session:
        people = session.exec(select(Contact.phone, Contact.full_name, Contact.address)).all()
    assert len(people) == 6
    for phone, name, _address in people:
        assert phone is not None
        for text in exports:
            for form in (phone, phone[1:], "0" + phone[3:], name):
                assert form not in text, form
    assert "Cái Cám" not in "".join(exports)
    rows = list(csv.reader(io.StringIO(exports[2].lstrip("\ufeff"))))
    assert rows[1][1] == "Toàn tỉnh" and int(rows[1][2]) == 6


def test_the_public_figures_are_cached(client_with: Callable[..., Any], engine: Engine) -> None:
    seed(engine)
    accountability.forget()
    client = client_with(public_cache_seconds=300)
    before = client.get("/public/accountability.json").json()["province"]["received"]
    with Session(engine) as session:
        session.add(Commune(code="99999", province_code="96", name="Xã Thử"))
        handle_inbound(session, {"MessageSid": "SMlater", "From": PHONES[0], "Body": "Câu hỏi mới"})
        session.commit()
    assert client.get("/public/accountability.json").json()["province"]["received"] == before  # from the cache
    accountability.forget()
    assert client.get("/public/accountability.json").json()["province"]["received"] == before  # same conversation
    page = client.get("/public/accountability")
    assert page.headers["cache-control"] == "public, max-age=300" and "set-cookie" not in page.headers
