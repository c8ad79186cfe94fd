"""Password policy (length, common and guessable passwords) and sign-in that costs the same for anyone."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.accounts import security, service
from broadcast.exceptions import ValidationFailed


@pytest.mark.parametrize("password", [
    "12345678",  # common, and short
    "1234567890",  # common
    "password123",  # common with digits
    "Password1!",  # the pattern every policy teaches
    "canbo-demo",  # the username plus a word
    "a" * 129,  # beyond the cap (a 2 MB password is refused before hashing)
    "x" * 2_000_000,
])
def test_weak_short_or_huge_passwords_are_refused(engine: Engine, password: str) -> None:
    with Session(engine) as session, pytest.raises(ValidationFailed) as refused:
        service.create_user(session, username="canbo", password=password, role="officer")
    assert refused.value.field == "password"


def test_a_passphrase_is_accepted(engine: Engine) -> None:
    with Session(engine) as session:
        user = service.create_user(session, username="canbo", password="song trem mua nuoc noi", role="officer")
    assert user.id is not None


@pytest.mark.parametrize("length", [73, 128])
def test_long_passphrases_up_to_the_cap_are_judged_not_crashed(length: int) -> None:
    """zxcvbn raises on more than 72 characters unless told our own cap (a 500 the fuzzer found)."""
    phrase = ("song trem mua nuoc noi dong lua chin vang " * 4)[:length]
    assert security.password_problem(phrase) is None
    assert security.password_problem("a" * length) is not None


def test_password_over_the_api_names_the_field(client: Any) -> None:
    refused = client.post("/api/v1/users", json={"username": "moi", "password": "12345678", "role": "viewer"})
    assert refused.status_code == 422 and refused.json()["field"] == "password"


def test_unknown_usernames_cost_the_same_verification_as_known_ones(engine: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Not timed (timing tests are flaky): each path is checked to run exactly one argon2 verification."""
    with Session(engine) as session:
        service.create_user(session, username="canbo", password="song trem mua nuoc noi", role="officer")
        session.commit()
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(security, "_hasher", CountingHasher())
    with Session(engine) as session:
        for username, password in [("khong-co-ai", "sai"), ("canbo", "sai"), ("canbo", "y" * 5000),
                                   ("canbo", "song trem mua nuoc noi")]:
            calls.clear()
            outcome = service.authenticate(session, username, password)
            assert len(calls) == 1, (username, password[:10])
            assert (outcome is not None) == (password == "song trem mua nuoc noi")
            assert all(len(p) <= security.MAX_PASSWORD_LENGTH for p in calls)
