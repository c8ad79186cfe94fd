"""Signal processing for outdoor horns: join, trim, chime, repeats, band-limit, compress, loudness, true peak."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np
import pyloudnorm as pyln
from scipy import ndimage, signal

from broadcast.audio.tts.synth import AudioPart, Samples


@dataclass(frozen=True)
class ProcessingSettings:
    """Everything that changes the rendered sound; part of each clip's content hash."""

    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    bitrate_kbps: int = 64
    sample_rate: int = 22050
    band_low_hz: float = 200.0
    band_high_hz: float = 5000.0
    band_limit: bool = True
    compress: bool = True
    chime: bool = False
    repeats: int = 1
    repeat_pause_seconds: float = 2.0
    part_gap_seconds: float = 0.2
    lead_seconds: float = 0.5
    tail_seconds: float = 0.8

    def key(self) -> dict[str, object]:
        """A stable, JSON-serialisable description for hashing."""
        return asdict(self)


def resample(x: Samples, rate_in: int, rate_out: int) -> Samples:
    """Polyphase resampling (exact rational ratio)."""
    if rate_in == rate_out:
        return x
    ratio = Fraction(rate_out, rate_in).limit_denominator(1000)
    return signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def trim_silence(x: Samples, rate: int, threshold_db: float = -45.0, keep_seconds: float = 0.03) -> Samples:
    """Cut leading and trailing near-silence (relative to the clip's peak), keeping a short margin."""
    if x.size == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return x[:0]
    win = max(1, int(0.01 * rate))
    env = ndimage.maximum_filter1d(np.abs(x), size=win)
    loud = np.flatnonzero(env > peak * 10 ** (threshold_db / 20))
    keep = int(keep_seconds * rate)
    return x[max(0, loud[0] - keep) : min(x.size, loud[-1] + keep + 1)]


def silence(seconds: float, rate: int) -> Samples:
    return np.zeros(max(0, round(seconds * rate)), dtype=np.float32)


def join_parts(parts: list[AudioPart], rate: int, gap_seconds: float) -> Samples:
    """Resample every decoded part to `rate`, trim each, and join them with short gaps."""
    pieces: list[Samples] = []
    for part in parts:
        trimmed = trim_silence(resample(part.samples.astype(np.float32), part.sample_rate, rate), rate)
        if trimmed.size:
            if pieces:
                pieces.append(silence(gap_seconds, rate))
            pieces.append(trimmed)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def chime(rate: int, *, rising: bool = True) -> Samples:
    """A synthesised two-note bell (ding-dong), so no audio asset is needed."""
    notes = (659.25, 880.0) if rising else (880.0, 659.25)
    out = []
    for freq in notes:
        t = np.arange(int(0.55 * rate)) / rate
        tone = sum(a * np.sin(2 * np.pi * freq * h * t) for h, a in ((1, 1.0), (2, 0.35), (3, 0.15)))
        env = np.exp(-t * 5.0) * np.minimum(1.0, t / 0.005)
        out.append((0.5 * tone * env).astype(np.float32))
    return np.concatenate([*out, silence(0.35, rate)])


def with_repeats(x: Samples, rate: int, repeats: int, pause_seconds: float) -> Samples:
    """Read the bulletin `repeats` times with a pause between ("đọc hai lần")."""
    if repeats <= 1:
        return x
    pieces: list[Samples] = []
    for i in range(repeats):
        if i:
            pieces.append(silence(pause_seconds, rate))
        pieces.append(x)
    return np.concatenate(pieces)


def band_limit(x: Samples, rate: int, low_hz: float, high_hz: float) -> Samples:
    """4th-order Butterworth band-pass, zero phase: horns cannot reproduce the rest and it eats headroom."""
    nyquist = rate / 2
    high = min(high_hz, nyquist * 0.95)
    sos = signal.butter(4, [low_hz / nyquist, high / nyquist], btype="bandpass", output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def _one_pole(x: np.ndarray, rate: float, seconds: float) -> np.ndarray:
    a = math.exp(-1.0 / (seconds * rate))
    return signal.lfilter([1 - a], [1, -a], x)


def compress(x: Samples, rate: int, threshold_db: float = -20.0, ratio: float = 3.0) -> Samples:
    """Gentle RMS compression so quiet syllables stay above the street noise."""
    hop = 32  # the gain is computed per 1.5 ms block: same sound, a fraction of the CPU
    n = -(-x.size // hop) * hop
    blocks = np.pad(x.astype(np.float64), (0, n - x.size)).reshape(-1, hop)
    power = _one_pole((blocks**2).mean(axis=1), rate / hop, 0.010)
    level_db = 10 * np.log10(np.maximum(power, 1e-12)) + 3.01  # RMS of a sine reads as its peak level
    gain_db = -np.maximum(level_db - threshold_db, 0.0) * (1 - 1 / ratio)
    gain_db = _one_pole(gain_db, rate / hop, 0.050)  # smooth the gain: no zipper noise
    gain = np.interp(np.arange(x.size), np.arange(gain_db.size) * hop + hop / 2, 10 ** (gain_db / 20))
    return (x * gain).astype(np.float32)


# 4x oversampling interpolator for true peak: 48 taps (12 per phase), as in ITU-R BS.1770-4 annex 2.
_TP_FIR = signal.firwin(48, 0.23, window=("kaiser", 6.0))


def _oversample(x: Samples) -> np.ndarray:
    return signal.resample_poly(x.astype(np.float32), 4, 1, window=_TP_FIR.astype(np.float32))


def true_peak_db(x: Samples, rate: int = 0) -> float:
    """True peak in dBTP: the sample peak of a 4x oversampled signal (ITU-R BS.1770 annex 2)."""
    if x.size == 0:
        return float("-inf")
    peak = float(np.max(np.abs(_oversample(x))))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def integrated_loudness(x: Samples, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4); clips shorter than one block are padded with silence."""
    block = int(0.4 * rate) + 1
    if x.size < block:
        x = np.concatenate([x, np.zeros(block - x.size, dtype=x.dtype)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pyln.Meter(rate).integrated_loudness(x.astype(np.float64)))


def limit(x: Samples, rate: int, ceiling_db: float, lookahead_seconds: float = 0.005) -> Samples:
    """Look-ahead peak limiter: the gain ramps down over a few milliseconds before each peak."""
    ceiling = 10 ** (ceiling_db / 20)
    needed = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-9)).astype(np.float32)
    w = max(1, int(lookahead_seconds * rate))
    held = ndimage.minimum_filter1d(needed, size=2 * w + 1)
    gain = np.minimum(ndimage.uniform_filter1d(held, size=w), held)
    return (x * gain).astype(np.float32)


def finish(x: Samples, ceiling_db: float) -> Samples:
    """Static safety gain so the oversampled (true) peak is at or under the ceiling."""
    peak = true_peak_db(x)
    if peak > ceiling_db:
        x = (x * 10 ** ((ceiling_db - peak) / 20)).astype(np.float32)
    return x


def reach_loudness(x: Samples, rate: int, target_lufs: float, ceiling_db: float) -> Samples:
    """Gain to `target_lufs` and limit peaks, repeating until limiting no longer costs loudness."""
    # Band-limited speech at >= 22 kHz overshoots between samples by well under 0.3 dB,
    # so the cheap sample-peak limiter works with that margin and `finish` checks the true peak.
    sample_ceiling = ceiling_db - 0.3
    for _ in range(8):
        loudness = integrated_loudness(x, rate)
        if not math.isfinite(loudness) or abs(target_lufs - loudness) < 0.05:
            break
        x = limit((x * 10 ** ((target_lufs - loudness) / 20)).astype(np.float32), rate, sample_ceiling)
    return finish(x, ceiling_db)


def _to_loudness(x: Samples, rate: int, target_lufs: float) -> Samples:
    loudness = integrated_loudness(x, rate)
    if not math.isfinite(loudness):
        return x
    return (x * 10 ** ((target_lufs - loudness) / 20)).astype(np.float32)


def master(x: Samples, rate: int, settings: ProcessingSettings, margin_db: float = 0.4) -> Samples:
    """Band-limit, compress, then reach the loudness target with the true peak under the ceiling."""
    if settings.band_limit:
        x = band_limit(x, rate, settings.band_low_hz, settings.band_high_hz)
    x = _to_loudness(x, rate, settings.target_lufs)  # so the compressor threshold means the same for all
    if settings.compress:
        x = compress(x, rate)
    # MP3 encoding moves peaks a few tenths of a dB: keep a margin under the true-peak limit.
    return reach_loudness(x, rate, settings.target_lufs, settings.true_peak_dbtp - margin_db)


def correct(x: Samples, rate: int, settings: ProcessingSettings, encoded_lufs: float,
            margin_db: float = 0.4) -> Samples:
    """Second pass after encoding: aim higher by what the MP3 encoder took away, same peak ceiling."""
    loss = integrated_loudness(x, rate) - encoded_lufs
    return reach_loudness(x, rate, settings.target_lufs + loss, settings.true_peak_dbtp - margin_db)


def assemble(parts: list[AudioPart], settings: ProcessingSettings) -> Samples:
    """The whole chain from decoded parts to a mastered signal at `settings.sample_rate`."""
    rate = settings.sample_rate
    speech = join_parts(parts, rate, settings.part_gap_seconds)
    if speech.size == 0:
        return speech
    speech = with_repeats(speech, rate, settings.repeats, settings.repeat_pause_seconds)
    pieces = [silence(settings.lead_seconds, rate)]
    if settings.chime:
        pieces.append(chime(rate, rising=True))
    pieces.append(speech)
    if settings.chime:
        pieces += [silence(0.4, rate), chime(rate, rising=False)]
    pieces.append(silence(settings.tail_seconds, rate))
    return master(np.concatenate(pieces), rate, settings)
