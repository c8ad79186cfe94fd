"""broadcast.sandbox: a child over its memory, CPU or wall-clock budget is stopped and reported, never the caller."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadcast.sandbox import ChildFailed, ChildLimits, child_lines

CHILD = "tests.support.greedy_child"
LIMITS = ChildLimits(memory_bytes=512 << 20, cpu_seconds=1, timeout_seconds=60)


def children() -> set[str]:
    return {pid for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()}


@pytest.mark.parametrize(("mode", "reason"), [("memory", "memory"), ("cpu", "cpu"), ("fail", "crash")])
def test_a_child_over_its_limits_is_reported_with_the_reason(mode: str, reason: str) -> None:
    before = children()
    lines = []
    with pytest.raises(ChildFailed) as caught:
        for line in child_lines(CHILD, [mode], LIMITS, max_line_bytes=1 << 20):
            lines.append(line)
    assert lines == [b'{"hello": 1}']  # what it said before it failed still arrived
    assert caught.value.reason == reason
    assert children() == before


def test_a_silent_child_is_killed_after_the_wall_clock_budget() -> None:
    limits = ChildLimits(memory_bytes=512 << 20, cpu_seconds=60, timeout_seconds=0.5)
    before = children()
    with pytest.raises(ChildFailed) as caught:
        list(child_lines(CHILD, ["sleep"], limits, max_line_bytes=1 << 20))
    assert caught.value.reason == "timeout"
    assert children() == before


def test_stderr_is_drained_while_stdout_is_read() -> None:
    lines = list(child_lines(CHILD, ["stderr"], LIMITS, max_line_bytes=1 << 20))
    assert lines == [b'{"hello": 1}', b'{"done": true}']


def test_a_line_longer_than_allowed_stops_the_child() -> None:
    with pytest.raises(ChildFailed) as caught:
        list(child_lines(CHILD, ["long-line"], LIMITS, max_line_bytes=1 << 20))
    assert caught.value.reason == "output"


def test_many_lines_arrive_in_order_and_closing_early_kills_the_child() -> None:
    assert [int(x.strip(b"[]")) for x in list(child_lines(CHILD, ["rows", "50000"], LIMITS,
                                                          max_line_bytes=64))[1:]] == list(range(50000))
    before = children()
    lines = child_lines(CHILD, ["rows", "10000000"], LIMITS, max_line_bytes=64)
    assert next(lines) == b'{"hello": 1}'
    assert len(children() - before) == 1
    lines.close()
    assert children() == before


def test_parsers_beyond_the_allowed_number_wait_then_give_up_as_busy() -> None:
    one = ChildLimits(memory_bytes=512 << 20, cpu_seconds=60, timeout_seconds=60, processes=1, slot_wait_seconds=0.2)
    first = child_lines(CHILD, ["sleep"], one, max_line_bytes=64)
    assert next(first) == b'{"hello": 1}'  # holds the only slot
    with pytest.raises(ChildFailed) as caught:
        next(child_lines(CHILD, ["rows", "1"], one, max_line_bytes=64))
    assert caught.value.reason == "busy"
    first.close()  # frees the slot
    assert list(child_lines(CHILD, ["rows", "1"], one, max_line_bytes=64)) == [b'{"hello": 1}', b"[0]"]
