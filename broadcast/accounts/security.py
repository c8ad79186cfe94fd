"""Passwords (argon2id, a strength policy) and personal API tokens (random, stored only as a SHA-256 digest)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()
TOKEN_PREFIX = "bct_"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # longer adds nothing and costs hashing time an attacker could spend for us
MIN_STRENGTH = 3  # zxcvbn's 0–4 scale: 3 resists an offline attack on a slow hash for a long while
# Words of this service that any guesser would try first.
_SERVICE_WORDS = ("broadcast", "phapluat", "pháp luật", "camau", "cà mau", "pbgdpl", "ubnd", "xa", "phuong")


def password_problem(password: str, *, personal: Iterable[str] = ()) -> str | None:
    """Why a new password is refused (in Vietnamese), or None when it is acceptable.

    Long enough, not too long, and not guessable: zxcvbn checks it against lists of common passwords, words,
    names, keyboard patterns and dates, and against the user's own name and username (`personal`).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Mật khẩu dài quá {MAX_PASSWORD_LENGTH} ký tự"
    inputs = [word for word in (*personal, *_SERVICE_WORDS) if word]
    # zxcvbn refuses more than 72 characters by default (a ValueError, a 500); our own bound is the limit.
    if zxcvbn(password, user_inputs=inputs, max_length=MAX_PASSWORD_LENGTH)["score"] < MIN_STRENGTH:
        return ("Mật khẩu quá dễ đoán (mật khẩu phổ biến, từ thông dụng, tên, ngày tháng hoặc dãy phím); "
                "hãy dùng một cụm 3–4 từ không liền nghĩa")
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(password_hash) and _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def spend_like_a_verification(password: str) -> None:
    """Cost what verifying a real password costs, so an unknown username answers no faster than a known one."""
    verify_password(_decoy_hash(), password[:MAX_PASSWORD_LENGTH])


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    """A personal API token, shown to its owner once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
