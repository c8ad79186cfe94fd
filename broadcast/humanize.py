"""Numbers, sizes and durations as Vietnamese officers read them, for error messages (standard library only)."""

from __future__ import annotations


def number(value: float) -> str:
    """12345678 → "12.345.678"."""
    return f"{value:,.0f}".replace(",", ".")


def size(n_bytes: float) -> str:
    """A byte count: "50 MB", "97,7 KB", "1,5 GB"."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n_bytes >= scale:
            value = n_bytes / scale
            text = f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}".replace(".", ",")
            return f"{text} {unit}"
    return f"{n_bytes:.0f} byte"


def duration(seconds: float) -> str:
    """75 → "1 phút 15 giây", 2.5 → "2 giây" (whole seconds, rounded down)."""
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return f"{rest} giây"
    return f"{minutes} phút {rest} giây" if rest else f"{minutes} phút"
