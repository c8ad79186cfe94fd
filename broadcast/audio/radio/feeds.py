"""Per-commune podcast RSS 2.0 feed (feedgen) and friendly clip addresses."""

from __future__ import annotations

import re
import unicodedata

from feedgen.feed import FeedGenerator

from broadcast.audio.models import AudioClip
from broadcast.audio.radio.airing import CatalogueEntry
from broadcast.communes.models import Commune
from broadcast.config import Settings

LEVEL_LABELS = {"normal": "Thông thường", "priority": "Ưu tiên", "emergency": "Khẩn cấp"}


def slugify(text: str, *, fallback: str = "ban-tin") -> str:
    """ASCII file-name part: "Thông báo Đề án 977" -> "thong-bao-de-an-977"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80].strip("-")
    return slug or fallback


def clip_filename(clip: AudioClip) -> str:
    return f"{slugify(clip.title)}-{clip.language}.mp3"


def clip_url(settings: Settings, clip: AudioClip) -> str:
    """The public download address (the token is the secret, the name is for the operator)."""
    return f"{settings.public_base_url}/clips/{clip.download_token}/{clip_filename(clip)}"


def feed_url(settings: Settings, commune: Commune) -> str:
    return f"{settings.public_base_url}/feeds/{commune.feed_token}/{commune.code}.xml"


def build_feed(settings: Settings, commune: Commune, entries: list[CatalogueEntry]) -> bytes:
    """RSS 2.0 with iTunes tags: one item per planned airing, its level in the title and description."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.title(f"Bản tin loa truyền thanh {commune.name}")
    fg.description(f"Bản tin phổ biến, giáo dục pháp luật cho đài truyền thanh {commune.name}.")
    fg.language("vi")
    fg.link(href=feed_url(settings, commune), rel="self")
    fg.link(href=settings.public_base_url, rel="alternate")  # feedgen uses the last link for <link>
    fg.podcast.itunes_category("News")
    fg.podcast.itunes_explicit("no")
    fg.podcast.itunes_author(f"UBND {commune.name}")
    fg.podcast.itunes_type("episodic")
    zone = settings.zone
    for entry in reversed(entries):  # feedgen prepends: oldest first in, newest first out
        clip, airing = entry.clip, entry.airing
        level = LEVEL_LABELS.get(airing.level, airing.level)
        slot = airing.planned_at.astimezone(zone).strftime("%H:%M %d/%m/%Y")
        fe = fg.add_entry()
        fe.guid(f"airing-{airing.id}", permalink=False)
        fe.title(f"[{level}] {clip.title}")
        fe.description(f"Mức: {level}. Phát lúc: {slot}. Mã xác nhận: {airing.confirmation_code}.")
        fe.enclosure(url=f"{clip_url(settings, clip)}?xa={commune.code}", length=str(clip.size_bytes or 0),
                     type="audio/mpeg")
        fe.published(airing.planned_at)
        fe.podcast.itunes_duration(str(round(clip.duration_seconds or 0)))
        fe.category(term=airing.level, label=level)
    return bytes(fg.rss_str(pretty=True))
