"""The first-run path: what a fresh install still needs before its first campaign can reach residents.

Shown on the dashboard to admins and officers until every step is done; each step links to where it is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists
from sqlmodel import Session, col, select

from broadcast.accounts.models import Role, User
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.communes.service import count_communes
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.outbox.models import Delivery, DeliveryKind


@dataclass(frozen=True)
class Step:
    key: str  # communes | residents | approver | sender | test_sms (the page's text: firstrun.<key>)
    done: bool
    href: str | None  # where it is done; None: another role does it (an admin)
    action: str | None = None  # a form to post instead of a link (admins load the province's communes)


def first_run(session: Session, settings: Settings, user: User) -> list[Step]:
    """The steps of the first-run path for `user`, in order, each done or not."""
    admin = user.role == Role.admin
    approver = session.exec(select(exists().where(col(User.role) == Role.approver, col(User.is_active)))).one()
    phone = session.exec(select(exists().where(col(GatewayPhone.enabled)))).one() and not settings.gateway_simulator
    # Existence, never counts: this runs on every dashboard view, over a million residents too.
    residents = session.exec(select(exists().where(col(Contact.erased_at).is_(None)))).one()
    tested = session.exec(select(exists().where(col(Delivery.kind) == DeliveryKind.test,
                                                col(Delivery.created_by_id) == user.id))).one()
    return [
        Step("communes", bool(count_communes(session, settings.province_code)), None,
             "/admin/communes/load" if admin else None),
        Step("residents", bool(residents), "/residents/import"),
        Step("approver", bool(approver), "/admin/users" if admin else None),
        Step("sender", not settings.twilio_simulator or bool(phone), "/admin/gateways" if admin else None),
        Step("test_sms", bool(tested), "/campaigns/new"),
    ]
