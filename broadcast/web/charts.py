"""Small charts as inline SVG, drawn on the server (no scripts, no external libraries)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

Formatter = Callable[[float], str]


def hbars(rows: Sequence[tuple[str, float]], *, fmt: Formatter = str, title: str = "", width: int = 560,
          css: str = "bar") -> Markup:
    """Horizontal bars, one labelled row each (funnels, failures by reason)."""
    if not rows:
        return Markup("")
    row_h, label_w, value_w = 26, 190, 90
    plot_w = width - label_w - value_w
    top = max(max(v for _, v in rows), 1)
    height = row_h * len(rows) + 4
    # The text equivalent says every figure the bars show (screen readers read the label, not the shapes).
    summary = f"{title}: " + "; ".join(f"{label} {fmt(value)}" for label, value in rows)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}" '
             f'preserveAspectRatio="xMinYMin meet"><title>{escape(summary)}</title>']
    for i, (label, value) in enumerate(rows):
        y = i * row_h + 2
        w = max(plot_w * value / top, 1 if value else 0)
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" class="lbl">{escape(label)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" class="{css} {css}-{i}"/>'
                     f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="val">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def day_columns(days: Sequence[dict[str, object]], series: Sequence[tuple[str, str]], *, title: str = "",
                fmt: Formatter = str, width: int = 560, height: int = 180) -> Markup:
    """Grouped columns per day (e.g. delivered and failed), with dd/mm labels and a legend."""
    if not days:
        return Markup("")
    pad_l, pad_b, pad_t = 8, 34, 10
    plot_h = height - pad_b - pad_t
    top = max([1.0] + [float(d.get(key, 0) or 0) for d in days for key, _ in series])  # type: ignore[arg-type]
    slot = (width - pad_l) / len(days)
    bar = max(min(slot / (len(series) + 1), 28), 2)
    summary = f"{title}: " + "; ".join(
        _day(day) + ": " + ", ".join(f"{label} {fmt(float(day.get(key, 0) or 0))}"  # type: ignore[arg-type]
                                       for key, label in series)
        for day in days if any(day.get(key) for key, _ in series))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(summary)}">'
             f"<title>{escape(summary)}</title>"]
    for i, day in enumerate(days):
        x0 = pad_l + i * slot + (slot - bar * len(series)) / 2
        for j, (key, _label) in enumerate(series):
            value = float(day.get(key, 0) or 0)  # type: ignore[arg-type]
            h = plot_h * value / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                         f'height="{h:.1f}" class="col col-{j}"><title>{escape(fmt(value))}</title></rect>')
        label = _day(day)
        if len(days) <= 16 or i % 2 == 0:
            parts.append(f'<text x="{pad_l + i * slot + slot / 2:.1f}" y="{height - pad_b + 14}" '
                         f'text-anchor="middle" class="lbl">{escape(label)}</text>')
    for j, (_key, label) in enumerate(series):
        x = pad_l + j * 150
        parts.append(f'<rect x="{x}" y="{height - 12}" width="10" height="10" class="col col-{j}"/>'
                     f'<text x="{x + 14}" y="{height - 3}" class="lbl">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _day(day: dict[str, object]) -> str:
    """dd/mm of a day's ISO date."""
    return str(day.get("day", ""))[8:10] + "/" + str(day.get("day", ""))[5:7]
