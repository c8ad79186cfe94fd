"""MP3 encoding (lameenc, mono CBR), ID3 tags (mutagen) and measurement of the encoded file."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import lameenc
import numpy as np
import soundfile as sf
from mutagen.id3 import COMM, ID3, TALB, TCON, TDRC, TIT2, TLAN, TLEN, TPE1, TXXX
from mutagen.mp3 import MP3

from broadcast.audio.processing.dsp import integrated_loudness, true_peak_db
from broadcast.audio.tts.synth import Samples

_ISO639_2 = {"vi": "vie", "km": "khm", "en": "eng"}


@dataclass(frozen=True)
class ClipTags:
    """What goes into the ID3 tag: an operator's player shows the title and the commune."""

    title: str
    campaign: str = ""
    commune: str = ""
    language: str = "vi"
    day: date | None = None
    engine: str = ""
    level: str = "normal"


@dataclass(frozen=True)
class Measurement:
    """What the encoded MP3 really contains, read back by decoding it."""

    duration_seconds: float
    loudness_lufs: float
    true_peak_dbtp: float
    sample_rate: int
    size_bytes: int


def encode_mp3(x: Samples, rate: int, bitrate_kbps: int) -> bytes:
    """Mono constant-bitrate MP3; the output rate is pinned so LAME never resamples on its own."""
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(pcm.tobytes()) + encoder.flush())


def _add_tags(path: Path, tags: ClipTags) -> None:
    id3 = ID3()
    id3.add(TIT2(encoding=3, text=tags.title))
    if tags.campaign:
        id3.add(TALB(encoding=3, text=tags.campaign))
    id3.add(TPE1(encoding=3, text=f"Đài truyền thanh {tags.commune}".strip() if tags.commune else "Phổ biến pháp luật"))
    id3.add(TCON(encoding=3, text="Speech"))
    id3.add(TLAN(encoding=3, text=_ISO639_2.get(tags.language, tags.language)))
    if tags.day:
        id3.add(TDRC(encoding=3, text=tags.day.isoformat()))
    info: Any = MP3(path).info  # mutagen declares `info = None` on the class: mypy would think it always is
    if info is not None:
        id3.add(TLEN(encoding=3, text=str(int(info.length * 1000))))
    id3.add(TXXX(encoding=3, desc="commune", text=tags.commune))
    id3.add(TXXX(encoding=3, desc="bulletin_level", text=tags.level))
    id3.add(COMM(encoding=3, lang=_ISO639_2.get(tags.language, "vie"), desc="",
                 text=f"engine={tags.engine}; level={tags.level}"))
    id3.save(path, v2_version=3)  # ID3v2.3: what old phones and loudspeaker players read


def write_clip(path: Path, mp3: bytes, tags: ClipTags) -> int:
    """Write and tag an MP3 atomically (readers never see a half-written file); returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".mp3")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(mp3)
        _add_tags(tmp, tags)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def measure_mp3(source: Path | bytes) -> Measurement:
    """Decode the MP3 and measure duration, integrated loudness and true peak."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    return Measurement(
        duration_seconds=round(len(mono) / rate, 3),
        loudness_lufs=round(integrated_loudness(mono, rate), 2),
        true_peak_dbtp=round(true_peak_db(mono), 2),
        sample_rate=int(rate),
        size_bytes=len(data),
    )


def read_tags(path: Path) -> dict[str, str]:
    """The ID3 frames of a clip as text (for tests and the catalogue)."""
    id3 = ID3(path)
    return {key: str(frame) for key, frame in id3.items()}
