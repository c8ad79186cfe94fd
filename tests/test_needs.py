"""A missing PostgreSQL or Chromium skips a test on a developer's machine and fails it in CI."""

from __future__ import annotations

import pytest

from tests.support.needs import missing


def test_missing_skips_locally_and_fails_under_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROADCAST_TESTS_STRICT", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        missing("Chromium")
    monkeypatch.setenv("BROADCAST_TESTS_STRICT", "1")
    with pytest.raises(pytest.fail.Exception, match="requires it"):
        missing("Chromium")


def test_a_missing_caddy_fails_under_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import needs

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("BROADCAST_TESTS_STRICT", "1")
    with pytest.raises(pytest.fail.Exception, match="Caddy"):
        needs.caddy()
    monkeypatch.delenv("BROADCAST_TESTS_STRICT")
    with pytest.raises(pytest.skip.Exception, match="Caddy"):
        needs.caddy()
