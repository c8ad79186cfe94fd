"""`python -m scheduler`: run the scheduler alone (same as `broadcast scheduler`)."""

from __future__ import annotations

import sys

from broadcast.config import load_settings
from broadcast.exceptions import BroadcastError
from scheduler.process import run_scheduler


def main() -> int:
    try:
        settings = load_settings()
    except BroadcastError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    run_scheduler(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
