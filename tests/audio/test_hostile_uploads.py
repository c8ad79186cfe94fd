"""Hostile audio uploads and Range headers: a 4xx naming the problem, never a 5xx or a Python repr, the
upload refused before it is read when it is too large, and nothing left on disk."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.config import Settings
from tests.audio.test_api import wait_ready
from tests.support.hostile import counted_chunks, leftovers

UPLOADS = "/api/v1/audio/uploads"


def wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    tone = 0.1 * np.sin(np.arange(int(seconds * rate)) / 5)
    sf.write(buffer, tone.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def assert_nothing_kept(engine: Engine, settings: Settings, scratch: Path) -> None:
    with Session(engine) as session:
        assert session.exec(select(AudioClip)).all() == []
    assert leftovers(Path(settings.media_dir)) == []
    assert leftovers(scratch) == []


@pytest.mark.parametrize(
    ("name", "data"),
    [("thong-bao.mp3", b"ID3 but not audio at all " * 40), ("thong-bao.wav", b"RIFF\x00\x00\x00\x00WAVEjunk" * 10),
     ("thong-bao.mp3", b"\xff\xfb" + bytes(range(256)) * 8)],
    ids=["text", "truncated-wav", "noise"],
)
def test_a_file_that_is_not_audio_is_a_422_without_python_reprs(
    client: TestClient, engine: Engine, settings: Settings, scratch: Path, name: str, data: bytes
) -> None:
    response = client.post(UPLOADS, files={"file": (name, data, "audio/mpeg")})

    assert response.status_code == 422, response.text
    assert "không phải tệp âm thanh MP3/WAV" in response.json()["message"]
    assert response.json()["field"] == "file"
    assert "object at 0x" not in response.text and "BytesIO" not in response.text
    assert client.get("/healthz").status_code == 200
    assert_nothing_kept(engine, settings, scratch)


def test_oversized_audio_is_refused_before_it_is_read(
    client_with: Callable[..., TestClient], engine: Engine, settings: Settings, scratch: Path
) -> None:
    client = client_with(audio_upload_max_bytes=1 << 20)
    pulled: list[int] = []
    headers = {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(200 << 20)}
    response = client.post(UPLOADS, content=counted_chunks(200 << 20, pulled), headers=headers)

    assert response.status_code == 413, response.text
    assert "200 MB" in response.json()["message"] and "tối đa 1 MB" in response.json()["message"]
    assert pulled == []
    assert_nothing_kept(engine, settings, scratch)


def test_recording_longer_than_the_limit_is_refused_with_its_length(
    client_with: Callable[..., TestClient], engine: Engine, settings: Settings, scratch: Path
) -> None:
    client = client_with(audio_upload_max_seconds=1)
    response = client.post(UPLOADS, files={"file": ("thong-bao.wav", wav(2.5), "audio/wav")})

    assert response.status_code == 422, response.text
    assert "dài 2 giây" in response.json()["message"] and "tối đa 1 giây" in response.json()["message"]
    assert_nothing_kept(engine, settings, scratch)


def test_bad_form_fields_name_the_field(client: TestClient, engine: Engine, settings: Settings,
                                        scratch: Path) -> None:
    response = client.post(UPLOADS, files={"file": ("a.wav", wav(0.5), "audio/wav")}, data={"repeats": "9"})

    assert response.status_code == 422 and response.json()["field"] == "repeats"
    assert_nothing_kept(engine, settings, scratch)


def test_a_good_recording_is_kept_once_and_temporary_files_go(
    client: TestClient, engine: Engine, settings: Settings, scratch: Path
) -> None:
    data = wav(1.0)
    first = client.post(UPLOADS, files={"file": ("a.wav", data, "audio/wav")},
                        data={"language": "km", "title": "Bản thu", "repeats": "2", "chime": "true"})
    again = client.post(UPLOADS, files={"file": ("b.wav", data, "audio/wav")},
                        data={"language": "km", "title": "Bản thu", "repeats": "2", "chime": "true"})

    assert first.status_code == 202, first.text
    assert again.json()["id"] == first.json()["id"] and first.json()["source"] == "upload"
    assert wait_ready(client, first.json()["id"])["status"] == "ready"  # decoded again, bounded, by the worker
    assert len([p for p in leftovers(Path(settings.media_dir)) if p.startswith("uploads/")]) == 1
    assert leftovers(scratch) == []


@pytest.fixture
def ready_clip(engine: Engine, settings: Settings) -> tuple[str, bytes]:
    """A ready clip row and its file, as the renderer leaves them; returns its download address and bytes."""
    body = bytes(range(256)) * 4
    path = Path(settings.media_dir) / "clips" / "ab" / "clip.mp3"
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    with Session(engine) as session:
        session.add(AudioClip(content_hash="ab" * 32, file_path="clips/ab/clip.mp3", download_token="tok-range",
                              status=ClipStatus.ready, title="Thử"))
        session.commit()
    return "/clips/tok-range/thu.mp3", body


@pytest.mark.parametrize(
    ("header", "status", "span"),
    [("bytes=" + "9" * 5000 + "-", 416, None),
     ("bytes=" + "1" * 5000 + "-" + "2" * 5000, 416, None),
     ("bytes=0-" + "9" * 5000, 206, (0, 1023)),
     ("bytes=-" + "9" * 5000, 206, (0, 1023)),
     ("bytes=10-" + "0" * 4990 + "19", 206, (10, 19))],
    ids=["huge-start", "huge-both", "huge-end", "huge-suffix", "zero-padded"],
)
def test_range_with_thousands_of_digits_is_never_a_server_error(
    anonymous_client: TestClient, ready_clip: tuple[str, bytes], header: str, status: int,
    span: tuple[int, int] | None,
) -> None:
    url, body = ready_clip
    response = anonymous_client.get(url, headers={"Range": header})

    assert response.status_code == status
    if span is None:
        assert response.headers["content-range"] == f"bytes */{len(body)}"
    else:
        assert response.content == body[span[0]:span[1] + 1]
        assert response.headers["content-range"] == f"bytes {span[0]}-{span[1]}/{len(body)}"


def test_parse_range_bounds_its_numbers() -> None:
    from broadcast.audio.radio.downloads import parse_range

    huge: Any = parse_range("bytes=" + "7" * 100_000 + "-", 1024)
    assert huge is not None and huge[0] >= 1024
    assert parse_range("bytes=5-1", 1024) == (5, 1)  # the caller answers 416
    assert parse_range("items=0-1", 1024) is None
