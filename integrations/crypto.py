"""Encryption at rest for tokens and passwords: Fernet with a key derived from the instance secret.

The key is derived with HKDF (SHA-256) so the Flask session key and the encryption key differ,
and rotating one purpose never needs the other's raw bytes.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"meetagain/v1"
_INFO = b"meetagain token encryption"


class DecryptionError(Exception):
    """Stored ciphertext could not be read with this instance's secret (wrong key or damaged)."""


def derive_key(secret: str) -> bytes:
    """The urlsafe-base64 Fernet key derived from the instance secret."""
    if not secret:
        raise ValueError("an instance secret is required to derive the encryption key")
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


class SecretBox:
    """Encrypts and decrypts small secrets (OAuth tokens, CalDAV passwords, PKCE verifiers)."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(derive_key(secret))

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes, ttl: int | None = None) -> bytes:
        """The plaintext; with `ttl`, tokens older than that many seconds are refused too."""
        try:
            return self._fernet.decrypt(token, ttl=ttl)
        except InvalidToken:
            raise DecryptionError(
                "stored secret cannot be decrypted: was the instance secret key changed?"
            ) from None

    def encrypt_text(self, text: str) -> bytes:
        return self.encrypt(text.encode("utf-8"))

    def decrypt_text(self, token: bytes) -> str:
        return self.decrypt(token).decode("utf-8")
