"""Officers' uploaded recordings, decoded in a resource-limited process (broadcast.sandbox) and never in the
server: the decoder is native code reading an untrusted file, and a long MP3 decodes to gigabytes."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from broadcast.audio.tts.synth import AudioPart
from broadcast.config import Settings
from broadcast.exceptions import ServiceBusy, ValidationFailed
from broadcast.humanize import duration
from broadcast.sandbox import BUSY_MESSAGE, ChildFailed, ChildLimits, child_lines

_DECODER = "broadcast.audio.processing.decode_child"
_MAX_RATE = 192_000  # the decoder refuses faster rates; bounds the samples file it may write


def check_recording(path: Path, settings: Settings, *, name: str) -> float:
    """Decode the whole file once to prove it is usable audio within AUDIO_UPLOAD_MAX_SECONDS; its length."""
    info = _run(path, "-", settings, name=name)
    return int(info["frames"]) / int(info["rate"])


def decode_recording(path: Path, settings: Settings, *, name: str = "", patient: bool = False) -> AudioPart:
    """The recording as one mono float32 part (the decoder writes raw samples to a temporary file).

    `patient` (the background renderer) waits for a free parser slot as long as the parse may take.
    """
    with tempfile.TemporaryDirectory(prefix="broadcast-decode-") as tmp:
        target = Path(tmp) / "samples.f32"
        info = _run(path, str(target), settings, name=name or path.name, patient=patient)
        samples = np.fromfile(target, dtype=np.float32)
    if len(samples) != int(info["frames"]):
        raise ValidationFailed(f"Không giải mã hết tệp âm thanh {name}.", field="file")
    return AudioPart(samples, int(info["rate"]), "upload")


def _run(path: Path, target: str, settings: Settings, *, name: str, patient: bool = False) -> dict[str, Any]:
    max_seconds = settings.audio_upload_max_seconds
    limits = ChildLimits.from_settings(settings, file_bytes=(max_seconds + 1) * _MAX_RATE * 4)
    if patient:
        limits = replace(limits, slot_wait_seconds=limits.timeout_seconds)
    try:
        lines = list(child_lines(_DECODER, [str(path), target, str(max_seconds)], limits, max_line_bytes=4096))
    except ChildFailed as exc:
        if exc.reason == "busy":
            raise ServiceBusy(BUSY_MESSAGE) from None
        why = {"memory": "cần quá nhiều bộ nhớ", "cpu": "giải mã quá lâu",
               "timeout": "giải mã quá lâu"}.get(exc.reason, "bộ giải mã dừng giữa chừng")
        raise ValidationFailed(f"Tệp âm thanh {name} quá lớn hoặc quá phức tạp để giải mã ({why}).",
                               field="file") from None
    info: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": "not_audio"}
    error = info.get("error")
    if error == "too_long":
        raise ValidationFailed(f"Bản thu {name} dài {duration(float(info['seconds']))}; "
                               f"tối đa {duration(max_seconds)}.", field="file")
    if error == "empty":
        raise ValidationFailed(f"Tệp âm thanh {name} không có mẫu nào.", field="file")
    if error is not None:
        raise ValidationFailed(f"Tệp {name} không phải tệp âm thanh MP3/WAV (hoặc bị hỏng).", field="file")
    return info
