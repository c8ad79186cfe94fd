"""Audio API: normalise preview, campaign rendering, downloads with Range/ETag, podcast feed, confirmations."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from mutagen.mp3 import MP3
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.app import create_app
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.events.models import EngagementEvent
from tests.audio.test_service import SCRIPT, seed
from tests.conftest import make_user


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """The whole app as an admin (Bearer), espeak as the engine."""
    app = create_app(settings.model_copy(update={"tts_engine": "espeak"}))
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {make_user(engine, 'admin')}"
        yield c
    worker = getattr(app.state, "audio_worker", None)
    if worker is not None:
        worker.stop()


def wait_ready(client: TestClient, clip_id: int, deadline_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        clip = client.get(f"/api/v1/audio/clips/{clip_id}").json()
        if clip["status"] in ("ready", "failed"):
            return clip
        time.sleep(0.05)  # polling the worker's progress, bounded by the deadline
    raise AssertionError("clip not rendered in time")


def test_normalize_preview(client: TestClient) -> None:
    r = client.post("/api/v1/audio/normalize", json={"text": "UBND xã họp lúc 07:30 ngày 11/8/2022"})
    assert r.status_code == 200
    assert r.json() == {"text": "Ủy ban nhân dân xã họp lúc bảy giờ ba mươi phút ngày mười một tháng tám "
                                "năm hai nghìn không trăm hai mươi hai"}


def test_pronunciation_dictionary_is_editable_and_used(client: TestClient) -> None:
    assert client.get("/api/v1/audio/pronunciations").json() == {"entries": {}}
    r = client.put("/api/v1/audio/pronunciations", json={"entries": {"Zalo": "da lô"}})
    assert r.status_code == 200 and r.json() == {"entries": {"Zalo": "da lô"}}
    assert client.post("/api/v1/audio/normalize", json={"text": "nhóm Zalo ấp"}).json()["text"] == "nhóm da lô ấp"
    assert client.put("/api/v1/audio/pronunciations", json={"entries": {"x": ""}}).status_code == 422


def test_operator_flow(client: TestClient, engine: Engine, settings: Settings) -> None:
    campaign_id = seed(engine, "priority")
    r = client.post(f"/api/v1/audio/campaigns/{campaign_id}/render", json={})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["airings_planned"] == 2 and len(body["clips"]) == 1
    clip = wait_ready(client, body["clips"][0]["id"])
    assert clip["status"] == "ready", clip["error"]
    assert abs(clip["loudness_lufs"] - settings.audio_target_lufs) <= 1
    assert clip["true_peak_dbtp"] <= settings.audio_true_peak_dbtp
    # re-render request without force: nothing new to render, same clip
    again = client.post(f"/api/v1/audio/campaigns/{campaign_id}/render", json={}).json()
    assert again["clips"][0]["id"] == clip["id"] and again["clips"][0]["status"] == "ready"
    assert again["airings_planned"] == 0

    cat = client.get("/api/v1/audio/communes/32014/catalogue").json()
    assert cat["items"][0]["level"] == "priority" and cat["items"][0]["level_label"] == "Ưu tiên"
    feed_url = cat["feed_url"].removeprefix("http://testserver")

    # download: full, then ranges
    url = clip["url"].removeprefix("http://testserver")
    assert url.endswith("/de-an-977-vi-vi.mp3")
    full = client.get(url)
    assert full.status_code == 200 and full.headers["content-type"] == "audio/mpeg"
    assert int(full.headers["content-length"]) == len(full.content) == clip["size_bytes"]
    assert full.headers["accept-ranges"] == "bytes" and full.headers["etag"]
    assert 'filename="de-an-977-vi-vi.mp3"' in full.headers["content-disposition"]
    info: Any = MP3(io.BytesIO(full.content)).info  # mutagen declares `info = None` on the class
    assert info is not None and info.length > 5
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    assert client.get(url, headers={"Range": "bytes=-50"}).content == full.content[-50:]
    assert client.get(url, headers={"Range": f"bytes={len(full.content) - 10}-"}).content == full.content[-10:]
    assert client.get(url, headers={"Range": f"bytes={len(full.content)}-"}).status_code == 416
    assert client.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and len(stale.content) == len(full.content)
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(full.content))
    assert client.get(url.replace(url.split("/")[2], "wrong-token")).status_code == 404

    # the feed: valid RSS 2.0 for a real parser, enclosure and duration, level shown
    feed = client.get(feed_url)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("application/rss+xml")
    parsed = feedparser.parse(feed.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20" and parsed.feed.language == "vi"
    entry = parsed.entries[0]
    assert entry.title.startswith("[Ưu tiên]")
    enclosure = entry.enclosures[0]
    assert enclosure.type == "audio/mpeg" and int(enclosure.length) == len(full.content)
    assert enclosure.href.startswith(clip["url"])
    assert int(entry.itunes_duration) == round(clip["duration_seconds"])
    via_feed = client.get(enclosure.href.removeprefix("http://testserver"))
    assert via_feed.content == full.content
    assert client.get(feed_url.replace("/feeds/", "/feeds/x")).status_code == 404

    # rotating the token retires the old address
    new_url = client.post("/api/v1/audio/communes/32014/feed-token").json()["feed_url"]
    assert client.get(feed_url).status_code == 404
    assert client.get(new_url.removeprefix("http://testserver")).status_code == 200

    # confirmation by code, then by id; each logged once
    code = cat["items"][0]["confirmation_code"]
    r = client.post("/api/v1/audio/airings/confirm", json={"code": code, "aired_at": "2024-03-01T10:05:00+07:00"})
    assert r.status_code == 200 and r.json()["commune_code"] == "32014"
    assert client.post("/api/v1/audio/airings/confirm", json={"code": "NOPE42"}).status_code == 404

    with Session(engine) as s:
        kinds = [e.kind for e in s.exec(select(EngagementEvent)).all()]
        # full GET, range 0-9 (If-Range mismatch → full), via feed: three downloads; ranges from 100 are not counted
        assert kinds.count("download") == 3
        assert kinds.count("airing_confirmed") == 1
        downloads = s.exec(select(EngagementEvent).where(EngagementEvent.kind == "download")).all()
        assert {e.commune_code for e in downloads} == {None, "32014"}
        commune = s.get(Commune, "32014")
        assert commune is not None and commune.feed_token


def test_same_text_posted_twice_is_one_clip(client: TestClient) -> None:
    a = client.post("/api/v1/audio/clips", json={"text": SCRIPT, "engine": "espeak"}).json()
    ready = wait_ready(client, a["id"])
    b = client.post("/api/v1/audio/clips", json={"text": SCRIPT, "engine": "espeak"}).json()
    assert b["id"] == a["id"] and b["status"] == "ready" and b["rendered_at"] == ready["rendered_at"]


def test_upload_endpoint(client: TestClient) -> None:
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, (0.1 * np.sin(np.arange(32000) / 5)).astype(np.float32), 16000, format="WAV")
    r = client.post("/api/v1/audio/uploads", files={"file": ("thong-bao.wav", buf.getvalue(), "audio/wav")},
                    data={"language": "km", "title": "Bản thu"})
    assert r.status_code == 202, r.text
    assert wait_ready(client, r.json()["id"])["engine"] == "upload"
    bad = client.post("/api/v1/audio/uploads", files={"file": ("x.mp3", b"not audio", "audio/mpeg")})
    assert bad.status_code == 422 and "không phải tệp âm thanh" in bad.json()["message"]
