"""Audio benchmark: offline chain throughput, cache hit vs render, loudness read back from the MP3s.

Run: .venv/bin/python bench/bench_audio.py   (no network; uses a throw-away SQLite database)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcast.audio.processing.encode import measure_mp3
from broadcast.audio.service import clip_path, render_clip_now, request_clip
from broadcast.config import load_settings
from broadcast.db import make_engine, session_scope, upgrade

SEED = Path("/work/shared/reference/seed/ca-mau-de-an-977-2024-plan.vi.txt")


def scripts() -> list[str]:
    """Bulletin-sized scripts: the seed plan's paragraphs grouped into ~600-character notices."""
    paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n") if len(p.strip()) > 40]
    out, current = [], ""
    for p in paragraphs:
        current = f"{current}\n\n{p}".strip()
        if len(current) > 600:
            out.append(current)
            current = ""
    return out + ([current] if current else [])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = load_settings(database_url=url, media_dir=Path(tmp) / "media", tts_engine="espeak",
                                 _env_file=None)
        engine = make_engine(url)
        texts = scripts()
        audio_seconds = render_cpu = 0.0
        render_wall: list[float] = []
        hit_wall: list[float] = []
        measurements = []
        for text in texts:
            wall, cpu = time.perf_counter(), time.process_time()
            with session_scope(engine) as s:  # normalise + hash + row
                clip = request_clip(s, settings, text=text, engine="espeak", repeats=2, chime=True)
            done = render_clip_now(engine, settings, clip.id or 0)  # synthesise, process, encode, tag, write
            render_cpu += time.process_time() - cpu
            render_wall.append(time.perf_counter() - wall)
            audio_seconds += done.duration_seconds or 0
            wall = time.perf_counter()
            with session_scope(engine) as s:  # the same script again: a cache hit
                hit = request_clip(s, settings, text=text, engine="espeak", repeats=2, chime=True)
            hit_wall.append(time.perf_counter() - wall)
            assert hit.id == done.id and hit.status == "ready"
            measurements.append(measure_mp3(clip_path(settings, done)))  # read back from the file
        engine.dispose()

    lufs = [m.loudness_lufs for m in measurements]
    peaks = [m.true_peak_dbtp for m in measurements]
    print(f"clips: {len(texts)} scripts (read twice, chime), {audio_seconds:.0f} s of audio, offline engine espeak-ng")
    print(f"throughput: {audio_seconds / render_cpu:.1f} s of audio per CPU-second "
          f"(whole chain: normalise, synthesise, process, encode, tag)   target >= 20")
    ratio = statistics.median(hit_wall) / statistics.median(render_wall)
    print(f"cache: hit {statistics.median(hit_wall) * 1000:.1f} ms vs render "
          f"{statistics.median(render_wall) * 1000:.0f} ms (median) = {ratio * 100:.2f}% of render   target < 1%")
    print(f"loudness read back from MP3: {min(lufs):.2f} .. {max(lufs):.2f} LUFS "
          f"(mean {statistics.mean(lufs):.2f}, target {settings.audio_target_lufs})")
    print(f"true peak read back from MP3: max {max(peaks):.2f} dBTP (limit {settings.audio_true_peak_dbtp})")


if __name__ == "__main__":
    main()
