"""Text normalisation on long digit runs: time for 1k/10k/20k/40k digits and the ratio per doubling.

Run: .venv/bin/python bench/bench_normalize.py [--before]

Side by side in one run: `normalize_vi` on a run of N digits, and the floor, `digits_words` alone (what
reading N digits one by one costs at the least). Linear work shows as a time ratio near 2 per doubling
of N; the quadratic rules this replaced showed 4 (20,000 digits took 32 s). `--before` also times the
replaced percent/unit rules on their own, up to 20k digits, for comparison. CPU time, best of 3.
Exits 1 when a doubling costs more than 2.6× or 20,000 digits take more than a second.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broadcast.audio.text.normalize import normalize_vi
from broadcast.audio.text.numbers import digits_words

SIZES = (1_000, 10_000, 20_000, 40_000)
MAX_DOUBLING_RATIO = 2.6
MAX_SECONDS_20K = 1.0
_NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
BEFORE = (re.compile(rf"({_NUM})\s*%"), re.compile(rf"({_NUM})\s*(km|kg|m|g)(?![\w²³])"))  # the replaced rules


def replaced_rules(text: str) -> None:
    for pattern in BEFORE:
        pattern.sub("", text)


def cpu_seconds(work: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    with_before = "--before" in sys.argv[1:]
    rows = []
    for size in SIZES:
        digits = "0123456789" * (size // 10)
        assert normalize_vi(digits) == digits_words(digits)  # correct before it is fast
        spent = cpu_seconds(partial(normalize_vi, digits))
        floor = cpu_seconds(partial(digits_words, digits))
        old = cpu_seconds(partial(replaced_rules, digits), repeat=1) if with_before and size <= 20_000 else None
        rows.append((size, spent, floor, old))
    print(f"{'digits':>8} {'normalize_vi':>13} {'per doubling':>13} {'floor':>9} {'÷ floor':>8}"
          + (f" {'replaced rules':>15}" if with_before else ""))
    failed = False
    previous: tuple[int, float] | None = None
    for size, spent, floor, old in rows:
        doubling = ""
        if previous is not None and size == 2 * previous[0]:
            ratio = spent / previous[1]
            doubling = f"{ratio:.2f}×"
            failed |= ratio > MAX_DOUBLING_RATIO
        previous = (size, spent)
        line = f"{size:>8,} {spent * 1000:>10.1f} ms {doubling:>13} {floor * 1000:>6.1f} ms {spent / floor:>7.1f}×"
        if with_before:
            line += f" {old * 1000:>12.0f} ms" if old is not None else f" {'—':>15}"
        print(line)
        if size == 20_000 and spent > MAX_SECONDS_20K:
            failed = True
    print(f"targets: ≤ {MAX_DOUBLING_RATIO}× per doubling, 20,000 digits < {MAX_SECONDS_20K:g} s:",
          "MISSED" if failed else "met")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
