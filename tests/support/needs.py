"""Tests that need PostgreSQL or Chromium: skipped on a developer's machine without them, failed in CI.

`.ci/run` installs both and sets BROADCAST_TESTS_STRICT=1, so a missing one there is a broken CI set-up,
never a silently skipped half of the suite.
"""

from __future__ import annotations

import os

import pytest


def missing(what: str) -> None:
    """Skip the test (or fail it under BROADCAST_TESTS_STRICT=1) because `what` is not available."""
    message = f"{what} is not installed here (.ci/run installs it)"
    if os.environ.get("BROADCAST_TESTS_STRICT") == "1":
        pytest.fail(message + ", but BROADCAST_TESTS_STRICT=1 requires it", pytrace=False)
    pytest.skip(message)
