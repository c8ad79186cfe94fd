"""Process wiring for gateway phones: Twilio claims only what is not routed to a phone, the pool runs
the phones' dispatchers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypedDict

from sqlalchemy import ColumnElement
from sqlalchemy.engine import Engine

from broadcast.channels.gateway.dispatcher import GatewayPool
from broadcast.channels.gateway.routing import twilio_routed, twilio_stale
from broadcast.config import Settings

log = logging.getLogger(__name__)


class TwilioRows(TypedDict):
    claim_where: ColumnElement[bool]
    stale_where: ColumnElement[bool]


def twilio_rows(settings: Settings) -> TwilioRows:
    """The Twilio SMS dispatcher's conditions: it stays off the rows routed to gateway phones."""
    return TwilioRows(claim_where=twilio_routed(settings.gateway_default_route), stale_where=twilio_stale())


def start_gateways(engine: Engine, settings: Settings) -> Callable[[], None]:
    """Run the phones' dispatchers (following registrations and health); returns stop()."""
    return GatewayPool(engine, settings).start()
