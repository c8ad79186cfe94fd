"""Errors of the operations commands (backup, restore): one line that says what is wrong and what to do."""

from __future__ import annotations

from broadcast.exceptions import BroadcastError


class BackupError(BroadcastError):
    """A backup or restore that cannot go on: a damaged backup, a database that is not empty, a missing program."""

    status_code = 409
