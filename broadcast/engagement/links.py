"""Per-delivery short links: `{PUBLIC_BASE_URL}/l/<code>`, code = base62(delivery id) + HMAC tag."""

from __future__ import annotations

import hashlib
import hmac
import re

from sqlmodel import Session, select

from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.events.models import EventKind
from broadcast.events.service import add_event_once
from broadcast.exceptions import NotFoundError
from broadcast.outbox.models import Delivery

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TAG_LENGTH = 5  # 62**5 ≈ 9·10⁸ guesses per delivery id: enough for a click counter
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}

# Link-preview fetchers and crawlers: their fetches are not a resident reading the message.
_BOTS = re.compile(
    r"bot|crawl|spider|preview|facebookexternalhit|facebookcatalog|zalo|whatsapp|telegram|slack|"
    r"twitter|discord|skype|linkedin|embedly|vkshare|pinterest|google-|bingpreview|curl|wget|"
    r"python-|httpx|okhttp|go-http|java/|headless|lighthouse|viber",
    re.IGNORECASE,
)


def b62(number: int) -> str:
    """Base62 of a non-negative integer."""
    if number == 0:
        return ALPHABET[0]
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def _unb62(text: str) -> int:
    value = 0
    for ch in text:
        value = value * 62 + _INDEX[ch]
    return value


def _tag(settings: Settings, delivery_id: int) -> str:
    key = settings.secret_key.get_secret_value().encode()
    digest = hmac.new(key, b"link:%d" % delivery_id, hashlib.sha256).digest()
    return b62(int.from_bytes(digest[:8], "big")).rjust(TAG_LENGTH, "0")[:TAG_LENGTH]


def encode(settings: Settings, delivery_id: int) -> str:
    """The short code of a delivery (e.g. 9 characters for ids up to 14 million)."""
    return b62(delivery_id) + _tag(settings, delivery_id)


def decode(settings: Settings, code: str) -> int | None:
    """The delivery id a code names, or None when it is malformed or forged."""
    if len(code) <= TAG_LENGTH or len(code) > 24 or any(ch not in _INDEX for ch in code):
        return None
    delivery_id = _unb62(code[:-TAG_LENGTH])
    if not hmac.compare_digest(code[-TAG_LENGTH:], _tag(settings, delivery_id)):
        return None
    return delivery_id


def short_link(settings: Settings, delivery_id: int) -> str:
    """The link appended to a campaign SMS."""
    return f"{settings.public_base_url}/l/{encode(settings, delivery_id)}"


def is_bot(user_agent: str | None) -> bool:
    """True for link-preview fetchers, crawlers and scripts (and a missing User-Agent)."""
    return not user_agent or bool(_BOTS.search(user_agent))


def record_click(session: Session, settings: Settings, code: str, *, user_agent: str | None,
                 count: bool) -> int:
    """The campaign a short link leads to; a person's first GET counts once per resident and campaign."""
    delivery_id = decode(settings, code)
    row = session.exec(select(Delivery.campaign_id, Delivery.contact_id).where(Delivery.id == delivery_id)).first() \
        if delivery_id is not None else None
    if row is None or row[0] is None:
        raise NotFoundError("Liên kết không tồn tại")
    campaign_id, contact_id = row
    if count and not is_bot(user_agent):
        commune = session.exec(select(Contact.commune_code).where(Contact.id == contact_id)).first() \
            if contact_id is not None else None
        who = f"c{contact_id}" if contact_id is not None else f"d{delivery_id}"
        add_event_once(session, kind=EventKind.click, campaign_id=campaign_id, contact_id=contact_id,
                       delivery_id=delivery_id, commune_code=commune, dedupe_key=f"click:{campaign_id}:{who}")
    return int(campaign_id)
