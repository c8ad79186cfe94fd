"""The webhook journal on real files: durable appends, torn writes, segments of processes that died, full disks."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broadcast.journal.store import Entry, Journal, JournalUnavailable
from tests.support.disks import fill, tmpfs


def entries(n: int, kind: str = "twilio.status") -> list[Entry]:
    return [Entry(kind, {"sid": f"SM{i:032x}", "status": "delivered"}, at=datetime(2026, 1, 1, tzinfo=UTC))
            for i in range(n)]


def read_all(journal: Journal) -> list[Entry]:
    found = []
    for segment in journal.replayable():
        while True:
            batch, offset = journal.read(segment, 7)
            if offset == segment.offset:
                break
            found += batch
            journal.advance(segment, offset, len(batch))
        journal.finish(segment)
    return found


def test_appended_events_come_back_in_order_and_the_segment_goes_once_applied(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    written = entries(20)
    journal.append(written[:5])
    journal.append(written[5:])
    assert journal.own_backlog() == 20 and journal.backlog() == 20
    assert read_all(journal) == written
    assert journal.own_backlog() == 0 and journal.files() == [] and journal.backlog() == 0
    journal.append(entries(1))  # a new segment for what comes next
    assert len(journal.files()) == 1


def test_a_live_process_keeps_its_segment_and_a_dead_ones_is_replayed_by_another(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    first, second = Journal(directory), Journal(directory)
    written = entries(3)
    first.append(written)
    assert second.replayable() == []  # its owner holds the lock: it replays it itself
    assert second.backlog() == 3
    first.close()  # the process ends with events still waiting: the segment stays
    assert read_all(second) == written
    assert second.files() == []


def test_a_write_cut_short_by_a_crash_is_never_replayed(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal = Journal(directory)
    journal.append(entries(2))
    journal.close()
    segment = journal.files()[0]
    with open(segment, "ab") as handle:
        handle.write(entries(1)[0].line()[:-9])  # no newline: the process died mid-write
    assert [e.data for e in read_all(Journal(directory))] == [e.data for e in entries(2)]


def test_a_full_disk_refuses_the_event_and_leaves_no_torn_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", size_kb=64) as directory:
        journal = Journal(directory / "journal")
        journal.append(entries(1))
        fill(directory)
        big = [Entry("twilio.sms", {"Body": "x" * 20_000})]
        with pytest.raises(JournalUnavailable, match="No space left on device"):
            journal.append(big)
        (directory / "filler").unlink()
        journal.append(entries(1, kind="gateway.event"))
        assert [e.kind for e in read_all(journal)] == ["twilio.status", "gateway.event"]


def test_a_directory_that_cannot_be_written_refuses_the_event(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", read_only=True) as directory, pytest.raises(JournalUnavailable,
                                                                            match="Read-only file system"):
        Journal(directory / "journal").append(entries(1))


def test_segments_are_private_to_the_service(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    journal.append(entries(1))
    assert os.stat(journal.files()[0]).st_mode & 0o077 == 0
