"""Secrets the service keeps in its database (gateway phones' passwords and signing keys), encrypted.

Fernet (AES-128-CBC with HMAC-SHA256) with the keys of DATA_ENCRYPTION_KEY: comma-separated, the first
encrypts, every one decrypts (MultiFernet), so a key is rotated by putting a new one first and running
`broadcast db rotate-key`. When DATA_ENCRYPTION_KEY is empty the key is derived from SECRET_KEY with
HKDF-SHA256; that derived key also stays a decrypt-only fallback once DATA_ENCRYPTION_KEY is set, so rows
written before are still read (and rotated).

Every engine carries the keyring of the settings it was made with (`make_engine` attaches it), and the
`EncryptedText` column type finds it through the connection's dialect: the app, the worker, the
scheduler, the CLI, migrations and tests each encrypt with their own settings, and no engine is without
keys.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from weakref import WeakKeyDictionary

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import MetaData, Text, TypeDecorator, column, select, table, update
from sqlalchemy.engine import Dialect, Engine

from broadcast.exceptions import ConfigurationError

_KEYRINGS: WeakKeyDictionary[Dialect, Keyring] = WeakKeyDictionary()
_UNDECRYPTABLE = ("A secret stored in the database (a gateway phone's password or signing key) cannot be "
                  "decrypted with DATA_ENCRYPTION_KEY (nor the key derived from SECRET_KEY): the key that "
                  "encrypted it is not configured")


class UndecryptableSecret(ConfigurationError):
    """A stored secret the configured keys cannot open (a wrong or removed DATA_ENCRYPTION_KEY)."""


def derived_key(secret_key: str) -> str:
    """The Fernet key derived from SECRET_KEY (HKDF-SHA256), used when DATA_ENCRYPTION_KEY is empty."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"broadcast", info=b"data-encryption-key v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()


def parse_keys(value: str) -> list[str]:
    """The comma-separated Fernet keys of DATA_ENCRYPTION_KEY; ValueError names a malformed one."""
    keys = [part.strip() for part in value.split(",") if part.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, binascii.Error):
            raise ValueError(f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes; make one "
                             "with: python -c 'from cryptography.fernet import Fernet; "
                             "print(Fernet.generate_key().decode())')") from None
    return keys


class Keyring:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def for_keys(cls, data_encryption_key: str, secret_key: str) -> Keyring:
        """DATA_ENCRYPTION_KEY's keys then the SECRET_KEY-derived one; the derived one alone when none."""
        derived = derived_key(secret_key)
        keys = parse_keys(data_encryption_key)
        return cls([*keys, derived] if keys else [derived])

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableSecret(_UNDECRYPTABLE) from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise UndecryptableSecret(_UNDECRYPTABLE) from None


def attach(engine: Engine, keyring: Keyring) -> None:
    """Give `engine` the keys its encrypted columns use (make_engine does this for every engine)."""
    _KEYRINGS[engine.dialect] = keyring


def keyring_of(dialect: Dialect) -> Keyring:
    """The keyring of the engine this dialect belongs to."""
    keyring = _KEYRINGS.get(dialect)
    if keyring is None:
        raise ConfigurationError("This database engine has no encryption keys: make it with broadcast.db.make_engine")
    return keyring


class EncryptedText(TypeDecorator[str]):
    """A text column stored as a Fernet token; the empty string stays empty (nothing to hide)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        return keyring_of(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if not value:
            return value
        return keyring_of(dialect).decrypt(value)


def rotate_secrets(engine: Engine, metadata: MetaData) -> int:
    """Re-encrypt every encrypted column under the first key; answers how many values were rewritten."""
    keyring, done = keyring_of(engine.dialect), 0
    with engine.begin() as conn:
        for model in metadata.sorted_tables:
            names = [c.name for c in model.columns if isinstance(c.type, EncryptedText)]
            if not names:
                continue
            key = next(iter(model.primary_key.columns)).name
            stored = table(model.name, *(column(n) for n in [key, *names]))  # untyped: tokens as stored
            for row in conn.execute(select(*stored.c)).all():
                values: dict[str, Any] = {n: keyring.rotate(v) for n, v in zip(names, row[1:], strict=True) if v}
                if values:
                    conn.execute(update(stored).where(stored.c[key] == row[0]).values(**values))
                    done += len(values)
    return done
