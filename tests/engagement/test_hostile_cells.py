"""Reports and the delivery log never carry a live formula: hostile titles, names, commune names and
failure reasons come back as the text they were (string cells in XLSX, a leading ' in CSV)."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.engagement.rollup import refresh_rollup
from broadcast.outbox.models import Delivery
from tests.support.seed import approved_campaign, seed_contacts, start

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\t=1", "\r=1"]
COMMUNE = "99001"


def _seed(engine: Engine) -> list[int]:
    """A commune, residents and campaigns named with formulas; some deliveries skipped for a hostile reason."""
    seed_contacts(engine, 6, commune="32248")
    with Session(engine) as session:
        session.add(Commune(code=COMMUNE, province_code="96", name=HOSTILE[0]))
        session.commit()
    seed_contacts(engine, 6, start=100, commune=COMMUNE)
    with Session(engine) as session:
        contacts = session.exec(select(Contact).order_by(col(Contact.id))).all()
        for contact, name in zip(contacts, HOSTILE * 2, strict=True):
            contact.full_name = name
            session.add(contact)
        session.commit()
    campaigns = []
    for title in HOSTILE:
        campaign_id = approved_campaign(engine)
        with Session(engine) as session:
            session.execute(update(Campaign).where(col(Campaign.id) == campaign_id).values(title=title))
            session.commit()
        start(engine, campaign_id)
        campaigns.append(campaign_id)
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery).where(Delivery.campaign_id == campaigns[0])
                                  .order_by(col(Delivery.id))).all()
        for delivery, reason in zip(deliveries, HOSTILE, strict=False):
            session.execute(update(Delivery).where(col(Delivery.id) == delivery.id)
                            .values(status="skipped", error_message=reason))
        session.commit()
    return campaigns


def _xlsx_cells(content: bytes) -> list[Any]:
    """Every cell of every sheet, asserting none is a formula."""
    book = load_workbook(io.BytesIO(content))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    return cells


def _csv_fields(text: str) -> list[str]:
    return [field for row in csv.reader(io.StringIO(text.removeprefix("\ufeff"))) for field in row]


def _assert_escaped(fields: list[str], expected: list[str]) -> None:
    """Each hostile value appears with a leading apostrophe; no field starts with a formula character."""
    for value in expected:
        assert "'" + value in fields, value
    assert [f for f in fields if f[:1] in ("=", "+", "-", "@", "\t", "\r")] == []


def test_reports_write_formulas_as_text(client: Any, engine: Engine, settings: Settings) -> None:
    campaigns = _seed(engine)
    with Session(engine) as session:
        refresh_rollup(session, settings, full=True)
        session.commit()
    first = campaigns[0]

    response = client.get(f"/api/v1/reports/campaigns/{first}.xlsx")
    assert response.status_code == 200
    cells = _xlsx_cells(response.content)
    texts = {c.value for c in cells if c.data_type == "s"}
    assert all(value in texts for value in HOSTILE)
    numbers = [c.value for c in cells if c.data_type == "n" and c.value is not None]
    assert numbers and all(isinstance(n, int | float) for n in numbers)
    assert 12 in numbers  # residents targeted: still a number

    period = _xlsx_cells(client.get("/api/v1/reports/period.xlsx").content)
    assert set(HOSTILE) <= {c.value for c in period if c.data_type == "s"}  # one title per campaign

    for sheet in ("totals", "communes", "failures"):
        text = client.get(f"/api/v1/reports/campaigns/{first}.csv?sheet={sheet}").text
        fields = _csv_fields(text)
        _assert_escaped(fields, {"totals": HOSTILE[:1], "communes": HOSTILE[:1], "failures": HOSTILE}[sheet])
    totals = list(csv.reader(io.StringIO(client.get(f"/api/v1/reports/campaigns/{first}.csv?sheet=totals")
                                         .text.removeprefix("\ufeff"))))
    assert dict(zip(totals[0], totals[1], strict=True))["Số người nhận dự kiến"] == "12"  # a number, unescaped
    _assert_escaped(_csv_fields(client.get("/api/v1/reports/period.csv").text), HOSTILE[:1])


def test_delivery_log_escapes_names_phones_and_reasons(client: Any, engine: Engine) -> None:
    campaigns = _seed(engine)
    text = client.get(f"/api/v1/reports/delivery-log.csv?campaign_id={campaigns[0]}").text
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    header, body = rows[0], rows[1:]
    assert len(body) == 12
    fields = [f for row in body for f in row]
    _assert_escaped(fields, HOSTILE)
    for row in body:
        record = dict(zip(header, row, strict=True))
        assert record["Số điện thoại"].startswith("'+8498")
        assert record["Mã tin"].isdigit() and record["Số lần thử"].isdigit()
