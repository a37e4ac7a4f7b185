"""Field encryption at rest: AES-256-GCM values and keyed blind indexes.

A field declared ``"pii": "encrypt"`` (text-like types only) is stored as
``enc:<key id>:<base64(nonce | ciphertext | tag)>``; the ciphertext is bound to the entity and
field it belongs to (associated data), so a value copied into another column does not decrypt.
Next to it, ``<column>__bidx`` holds an HMAC-SHA256 of the value: equality (exact search, unique
rules, ``eq`` and ``in`` conditions) works on that, never on the plaintext.

Keys come from ``SCRM_ENCRYPTION_KEY``: ``<id>:<base64 of 32 bytes>``, several separated by commas,
the first one current. Older keys stay listed while ``scrm keys rotate`` re-encrypts every value
and recomputes every blind index with the current one. Without the setting, a key is generated
once into the instance folder (development and the demo); production sets its own, kept out of
the database and its backups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..config import instance_secret

PREFIX = "enc:"
NONCE = 12
BIDX_LENGTH = 64


class KeyError_(ValueError):
    """A key setting that cannot be used, or a value no configured key opens."""


@dataclass(frozen=True)
class Key:
    id: str
    aead: AESGCM
    index: bytes


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=b"scrm-field-keys", info=purpose).derive(secret)


class Keyring:
    def __init__(self, setting: str):
        keys = []
        for part in [p.strip() for p in setting.split(",") if p.strip()]:
            key_id, sep, encoded = part.partition(":")
            if not sep or not key_id.isalnum() or len(key_id) > 16:
                raise KeyError_("each key is <id>:<base64 of 32 bytes>, the id letters and digits")
            try:
                secret = base64.b64decode(encoded, validate=True)
            except ValueError:
                raise KeyError_(f"key {key_id!r} is not valid base64") from None
            if len(secret) != 32:
                raise KeyError_(f"key {key_id!r} must be 32 bytes (it is {len(secret)})")
            keys.append(Key(key_id, AESGCM(_derive(secret, b"encrypt")), _derive(secret, b"blind-index")))
        if not keys:
            raise KeyError_("no encryption key given")
        if len({k.id for k in keys}) != len(keys):
            raise KeyError_("two keys share an id")
        self.current = keys[0]
        self.by_id = {k.id: k for k in keys}

    def seal(self, value: str, context: str) -> str:
        nonce = os.urandom(NONCE)
        box = self.current.aead.encrypt(nonce, value.encode(), context.encode())
        return f"{PREFIX}{self.current.id}:{base64.b64encode(nonce + box).decode()}"

    def open(self, stored: str, context: str) -> str:
        """The plaintext; a value stored before encryption was turned on comes back as it is."""
        if not stored.startswith(PREFIX):
            return stored
        key_id, _sep, encoded = stored[len(PREFIX) :].partition(":")
        key = self.by_id.get(key_id)
        if key is None:
            raise KeyError_(f"no configured key {key_id!r} opens this value (is an old key missing?)")
        try:
            raw = base64.b64decode(encoded)
            return key.aead.decrypt(raw[:NONCE], raw[NONCE:], context.encode()).decode()
        except (ValueError, InvalidTag):
            raise KeyError_(f"a value sealed with key {key_id!r} does not open: it was altered or moved") from None

    def blind(self, value: str) -> str:
        return hmac.new(self.current.index, value.strip().encode(), hashlib.sha256).hexdigest()

    def sealed_with_current(self, stored: str) -> bool:
        return stored.startswith(f"{PREFIX}{self.current.id}:")


def new_key_setting(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def instance_key(instance: Path) -> str:
    """A key generated once into the instance folder, for installations that set none."""
    return instance_secret(instance, "encryption_key", new_key_setting)


_KEYRINGS: dict[str, Keyring] = {}


def keyring() -> Keyring:
    """The keyring of the running application."""
    from flask import current_app

    setting = current_app.config["SCRM_ENCRYPTION_KEY"]
    ring = _KEYRINGS.get(setting)
    if ring is None:
        ring = _KEYRINGS[setting] = Keyring(setting)
    return ring


def context_of(entity: str, field_id: str) -> str:
    return f"{entity}.{field_id}"


class EncryptedText(sa.TypeDecorator):
    """A text column whose values are sealed on the way in and opened on the way out."""

    impl = sa.Text
    cache_ok = True

    def __init__(self, context: str):
        super().__init__()
        self.context = context

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return None
        return keyring().seal(str(value), self.context)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return keyring().open(value, self.context)

    def copy(self, **kw):
        return EncryptedText(self.context)
