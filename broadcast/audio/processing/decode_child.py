"""The decoder process (run under broadcast.sandbox limits): an uploaded recording to mono float32 samples.

argv: INPUT OUTPUT MAX_SECONDS, OUTPUT "-" only checks that the whole file decodes. Decodes block by block,
stopping as soon as the audio runs past MAX_SECONDS whatever its header claims, and writes the samples as
raw float32 to OUTPUT. Prints one JSON line: {"rate", "frames", "channels", "format"} or {"error": kind}
with kind not_audio, too_long (with "seconds") or empty.
"""

from __future__ import annotations

import json
import sys
from typing import BinaryIO

import numpy as np
import soundfile as sf

BLOCK_FRAMES = 1 << 16
MAX_RATE = 192_000
MAX_CHANNELS = 16


def _emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _decode(source: str, out: BinaryIO | None, max_seconds: float) -> dict[str, object]:
    try:
        info = sf.info(source)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return {"error": "not_audio"}
    rate, channels = int(info.samplerate), int(info.channels)
    if not 0 < rate <= MAX_RATE or not 0 < channels <= MAX_CHANNELS:
        return {"error": "not_audio"}
    if info.frames > max_seconds * rate:  # a header that tells the truth is refused before decoding
        return {"error": "too_long", "seconds": info.frames / rate}
    limit = int(max_seconds * rate)
    frames = 0
    try:
        with sf.SoundFile(source) as sound:
            for block in sound.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True):
                frames += len(block)
                if frames > limit:  # one that understates the length is stopped here
                    return {"error": "too_long", "seconds": frames / rate}
                if out is not None:
                    mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                    out.write(np.ascontiguousarray(mono, dtype=np.float32).tobytes())
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return {"error": "not_audio"}
    if frames == 0:
        return {"error": "empty"}
    return {"rate": rate, "frames": frames, "channels": channels, "format": str(info.format)}


def main(argv: list[str]) -> None:
    source, target, max_seconds = argv[1], argv[2], float(argv[3])
    if target == "-":
        _emit(_decode(source, None, max_seconds))
        return
    with open(target, "wb") as out:
        _emit(_decode(source, out, max_seconds))


if __name__ == "__main__":
    main(sys.argv)
