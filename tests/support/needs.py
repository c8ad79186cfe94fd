"""Tests that need PostgreSQL, Chromium or Caddy: skipped on a developer's machine without them, failed in CI.

`.ci/run` installs all three (scripts/bootstrap.sh) and sets BROADCAST_TESTS_STRICT=1, so a missing one there is a
broken CI set-up, never a silently skipped half of the suite.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    """Skip the test (or fail it under BROADCAST_TESTS_STRICT=1) because `what` is not available."""
    message = f"{what} is not installed here (.ci/run installs it)"
    if os.environ.get("BROADCAST_TESTS_STRICT") == "1":
        pytest.fail(message + ", but BROADCAST_TESTS_STRICT=1 requires it", pytrace=False)
    pytest.skip(message)


def caddy() -> str:
    """The `caddy` binary (Debian's caddy package), or skip/fail the test as `missing` does."""
    found = shutil.which("caddy")
    if found is None:
        missing("Caddy (Debian's caddy package)")
    assert found is not None
    return found
