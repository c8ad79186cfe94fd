"""How many messages a provider saw in its busiest second: the measure of every budget test and benchmark."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Busiest(NamedTuple):
    most: int  # the most messages inside any one-second window (one window starting at each message)
    began: float  # when that window began (the times' own clock)
    over: int  # how many of those windows held more than the budget


def busiest_second(times: Iterable[float], budget: float = float("inf")) -> Busiest:
    """The busiest sliding one-second window over `times` (seconds), and the windows over `budget`."""
    ordered = sorted(times)
    most, began, over, end = 0, 0.0, 0, 0
    for i, begin in enumerate(ordered):
        while end < len(ordered) and ordered[end] < begin + 1.0:
            end += 1
        if end - i > most:
            most, began = end - i, begin
        over += end - i > budget
    return Busiest(most, began, over)
