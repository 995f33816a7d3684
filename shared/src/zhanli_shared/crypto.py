"""Envelope encryption for personal data (ID numbers, phone numbers, pay) and display masks.

Why envelope encryption: every value is encrypted with its own random 256-bit data key
(DEK), and only the DEK is encrypted ("wrapped") with a long-lived key-encryption key
(KEK) from the key ring. Rotating the KEK then means re-wrapping 48 bytes per value
instead of re-encrypting the data, and old tokens stay readable for as long as their KEK
is still in the ring, so a rotation needs no downtime:

1. put a new key first in the ring, keep the old one after it, restart the services
   (new values are wrapped with the new key, old ones still decrypt);
2. sweep the tables: ``if cipher.needs_rotation(t): t = cipher.rotate(t, context=...)``;
3. drop the old key from the ring.

Both layers are AES-256-GCM with 96-bit random nonces. The data layer's associated data
is a caller-supplied *context* naming where the value lives (for example
``"commission:people:E1001:phone"``), so a ciphertext copied to another row or field
fails to decrypt instead of silently showing someone else's data. The wrap layer's
associated data is the key id, so the recorded kid cannot be swapped either.

A stored token is one ASCII string, safe for a Text column and for logs (it reveals only
the key id and the value's approximate length)::

    zv1.<kid>.<b64url(wrap nonce ‖ wrapped DEK)>.<b64url(data nonce ‖ ciphertext)>

Error messages never contain key material, plaintext, or token contents other than a
validated key id. This module deliberately imports no database code.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

__all__ = [
    "KEY_BYTES",
    "TOKEN_VERSION",
    "DataKeySettings",
    "DecryptionError",
    "FieldCipher",
    "KeyRing",
    "is_token",
    "mask",
    "mask_id_number",
    "mask_phone",
]

KEY_BYTES = 32
"""Length of every key (KEK and DEK): AES-256."""
NONCE_BYTES = 12
"""96-bit GCM nonces, the size GCM is designed for."""
TAG_BYTES = 16
TOKEN_VERSION = "zv1"
"""Prefix of every token; a new token layout gets a new version, old ones stay readable."""

_WRAPPED_PART_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
_MIN_DATA_PART_BYTES = NONCE_BYTES + TAG_BYTES
_WRAP_AAD_PREFIX = b"zhanli/zv1/kek:"
_DATA_AAD_PREFIX = b"zhanli/zv1/data:"

# A kid is short and plain so it can sit unescaped in a token and in error messages; the
# length limit also means a base64 key pasted in the wrong place is never a valid kid,
# so printing a valid kid can never print key material.
_KID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


class DecryptionError(ValueError):
    """A token could not be decrypted: malformed, tampered, wrong context or unknown key."""


# --------------------------------------------------------------------------- key ring


class DataKeySettings(Protocol):
    """The two settings the key ring is loaded from (``ServiceSettings`` has both)."""

    @property
    def data_keys(self) -> SecretStr | None: ...

    @property
    def data_keys_file(self) -> str | None: ...


def _describe(index: int, kid: str | None) -> str:
    """Name a ring entry in an error message without ever echoing key material."""
    if kid is not None and _KID_RE.fullmatch(kid):
        return f"entry {index} (kid {kid!r})"
    return f"entry {index}"


def _decode_key(text: str, where: str) -> bytes:
    """Decode a base64 key, standard or urlsafe alphabet, padding optional."""
    normalized = text.replace("-", "+").replace("_", "/").rstrip("=")
    normalized += "=" * (-len(normalized) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        # ``from None``: the underlying message is harmless today, but keep key-derived
        # text out of tracebacks by construction.
        raise ValueError(f"data key ring {where}: key is not valid base64") from None


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class KeyRing:
    """Named 256-bit key-encryption keys; the first one is active, the rest only decrypt.

    The ring is immutable. ``repr()`` shows the key ids only; ``to_text()`` is the one
    method that returns key material (for writing the key file on first run).
    """

    __slots__ = ("_aead", "_keys", "_order")

    def __init__(self, entries: Iterable[tuple[str, bytes]]) -> None:
        keys: dict[str, bytes] = {}
        for index, (kid, key) in enumerate(entries, start=1):
            if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
                raise ValueError(
                    f"data key ring {_describe(index, None)}: key id must be 1-32 characters "
                    "of A-Z, a-z, 0-9, '_' or '-'"
                )
            if kid in keys:
                raise ValueError(f"data key ring: duplicate key id {kid!r}")
            if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
                size = len(key) if isinstance(key, bytes | bytearray) else "not"
                raise ValueError(
                    f"data key ring {_describe(index, kid)}: key is {size} bytes, "
                    f"must be {KEY_BYTES} (AES-256)"
                )
            keys[kid] = bytes(key)
        if not keys:
            raise ValueError("data key ring is empty: at least one 'kid:base64key' is needed")
        self._keys = keys
        self._order = tuple(keys)
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}

    # -- constructors

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Parse ``kid:base64key,kid2:base64key2``; commas, spaces and newlines all separate.

        Keys may use the standard or the urlsafe base64 alphabet, with or without padding.
        The first entry becomes the active key.
        """
        normalized = re.sub(r"\s*:\s*", ":", text.strip())
        entries: list[tuple[str, bytes]] = []
        for index, item in enumerate((p for p in re.split(r"[,\s]+", normalized) if p), 1):
            kid, sep, encoded = item.partition(":")
            if not sep or not kid:
                raise ValueError(
                    f"data key ring {_describe(index, None)}: expected 'kid:base64key'"
                )
            if not encoded:
                raise ValueError(f"data key ring {_describe(index, kid)}: key is missing")
            entries.append((kid, _decode_key(encoded, _describe(index, kid))))
        return cls(entries)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Load a ring from a mounted secret file (same format as ``parse``)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValueError(f"data key file not found: {os.fspath(path)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"data key file {os.fspath(path)} is unreadable: {type(exc).__name__}"
            ) from None
        try:
            return cls.parse(text)
        except ValueError as exc:
            raise ValueError(f"data key file {os.fspath(path)}: {exc}") from None

    @classmethod
    def from_settings(cls, settings: DataKeySettings) -> KeyRing:
        """Load the ring from ``settings.data_keys`` or else ``settings.data_keys_file``.

        Setting both is refused rather than guessed at: two sources that can disagree
        about the active key would encrypt with a key nobody expected.
        """
        inline = settings.data_keys.get_secret_value() if settings.data_keys else ""
        path = settings.data_keys_file or ""
        if inline.strip() and path:
            raise ValueError(
                "both ZHANLI_DATA_KEYS and ZHANLI_DATA_KEYS_FILE are set: configure only one"
            )
        if inline.strip():
            try:
                return cls.parse(inline)
            except ValueError as exc:
                raise ValueError(f"ZHANLI_DATA_KEYS: {exc}") from None
        if path:
            return cls.from_file(path)
        raise ValueError(
            "no data keys configured: set ZHANLI_DATA_KEYS ('kid:base64key,...') or "
            "ZHANLI_DATA_KEYS_FILE (a file in the same format)"
        )

    @classmethod
    def generate(cls, kid: str) -> KeyRing:
        """A ring holding one fresh random key, for bootstrapping an installation."""
        return cls([(kid, AESGCM.generate_key(bit_length=KEY_BYTES * 8))])

    def rotated(self, new_kid: str) -> KeyRing:
        """A new ring with a fresh active key ``new_kid`` and every current key retained."""
        fresh = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return KeyRing([(new_kid, fresh), *self._keys.items()])

    def without(self, kid: str) -> KeyRing:
        """A new ring with ``kid`` retired (after every token has been rotated off it)."""
        if kid not in self._keys:
            raise ValueError(f"data key ring has no key id {kid!r}")
        return KeyRing((k, v) for k, v in self._keys.items() if k != kid)

    # -- accessors

    @property
    def active_kid(self) -> str:
        """The id of the key new values are wrapped with."""
        return self._order[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id, active first."""
        return self._order

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._order)

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active_kid!r}, kids={self._order!r})"

    def to_text(self) -> str:
        """The ring in ``parse`` format (urlsafe base64). Contains key material: a secret."""
        return ",".join(f"{kid}:{_b64e(key)}" for kid, key in self._keys.items())

    def _kek(self, kid: str) -> AESGCM:
        try:
            return self._aead[kid]
        except KeyError:
            raise DecryptionError(
                f"unknown key id {kid!r}: the data key ring holds {', '.join(self._order)}"
            ) from None


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kid: str
    wrapped: bytes  # wrap nonce ‖ AES-GCM(KEK, DEK)
    data: bytes  # data nonce ‖ AES-GCM(DEK, plaintext)

    def encode(self) -> str:
        return f"{TOKEN_VERSION}.{self.kid}.{_b64e(self.wrapped)}.{_b64e(self.data)}"


def _b64d_strict(part: str, name: str) -> bytes:
    """Decode unpadded base64url, refusing any non-canonical spelling of the bytes."""
    if not _B64URL_RE.fullmatch(part) or len(part) % 4 == 1:
        raise DecryptionError(f"malformed token: {name} is not base64url")
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    if _b64e(raw) != part:  # otherwise some character edits would go unnoticed
        raise DecryptionError(f"malformed token: {name} is not canonical base64url")
    return raw


def _parse_token(token: str) -> _Token:
    if not isinstance(token, str):
        raise DecryptionError(f"token must be a str, not {type(token).__name__}")
    parts = token.split(".")
    # Never echo the token: a plaintext stored by mistake must not end up in a log.
    if len(parts) != 4:
        raise DecryptionError(f"malformed token: expected '{TOKEN_VERSION}.<kid>.<key>.<data>'")
    version, kid, wrapped_part, data_part = parts
    if version != TOKEN_VERSION:
        raise DecryptionError(f"unsupported token version (this code reads {TOKEN_VERSION!r})")
    if not _KID_RE.fullmatch(kid):
        raise DecryptionError("malformed token: invalid key id")
    wrapped = _b64d_strict(wrapped_part, "wrapped data key")
    data = _b64d_strict(data_part, "ciphertext")
    if len(wrapped) != _WRAPPED_PART_BYTES:
        raise DecryptionError("malformed token: wrapped data key has the wrong length")
    if len(data) < _MIN_DATA_PART_BYTES:
        raise DecryptionError("malformed token: ciphertext is too short")
    return _Token(kid, wrapped, data)


def is_token(value: str) -> bool:
    """Whether ``value`` looks like a token (cheap prefix check, e.g. for migrations)."""
    return isinstance(value, str) and value.startswith(TOKEN_VERSION + ".")


def _context_aad(context: str | bytes) -> bytes:
    raw = context.encode("utf-8") if isinstance(context, str) else bytes(context)
    if not raw:
        raise ValueError("context must not be empty: it binds the value to its row and field")
    return _DATA_AAD_PREFIX + raw


class FieldCipher:
    """Encrypts and decrypts single field values with per-value data keys.

    ``context`` names where a value is stored (service, table, row key, field), e.g.
    ``"commission:people:E1001:phone"``; decryption must pass the same context. Numbers
    such as pay are encrypted as their exact string form (``str(Decimal)``).
    """

    __slots__ = ("_ring",)

    def __init__(self, keyring: KeyRing) -> None:
        self._ring = keyring

    @classmethod
    def from_settings(cls, settings: DataKeySettings) -> FieldCipher:
        """A cipher over ``KeyRing.from_settings(settings)``."""
        return cls(KeyRing.from_settings(settings))

    @property
    def keyring(self) -> KeyRing:
        return self._ring

    def encrypt(self, plaintext: str, *, context: str | bytes) -> str:
        """Encrypt ``plaintext`` under a fresh DEK wrapped with the active KEK."""
        if not isinstance(plaintext, str):
            raise TypeError(f"plaintext must be a str, not {type(plaintext).__name__}")
        aad = _context_aad(context)
        dek = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        data_nonce = os.urandom(NONCE_BYTES)
        data = data_nonce + AESGCM(dek).encrypt(data_nonce, plaintext.encode("utf-8"), aad)
        kid = self._ring.active_kid
        return _Token(kid, self._wrap(kid, dek), data).encode()

    def decrypt(self, token: str, *, context: str | bytes) -> str:
        """Decrypt a token; raises ``DecryptionError`` if anything does not check out."""
        parsed = _parse_token(token)
        return self._open(parsed, self._unwrap(parsed), _context_aad(context))

    def needs_rotation(self, token: str) -> bool:
        """Whether the token's DEK is wrapped with a key other than the active one.

        Only the header is read (no decryption). A token under a kid missing from the
        ring also answers True; ``rotate`` will then raise ``DecryptionError``.
        """
        return _parse_token(token).kid != self._ring.active_kid

    def rotate(self, token: str, *, context: str | bytes) -> str:
        """Re-wrap the token's DEK under the active KEK; the ciphertext is kept as is.

        The token is fully authenticated first (with ``context``), so rotation never
        launders a tampered or misplaced token. A token already under the active key is
        returned unchanged.
        """
        parsed = _parse_token(token)
        dek = self._unwrap(parsed)
        self._open(parsed, dek, _context_aad(context))
        active = self._ring.active_kid
        if parsed.kid == active:
            return token
        return _Token(active, self._wrap(active, dek), parsed.data).encode()

    # -- internals

    def _wrap(self, kid: str, dek: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._ring._kek(kid).encrypt(nonce, dek, _WRAP_AAD_PREFIX + kid.encode())

    def _unwrap(self, token: _Token) -> bytes:
        kek = self._ring._kek(token.kid)
        nonce, sealed = token.wrapped[:NONCE_BYTES], token.wrapped[NONCE_BYTES:]
        try:
            return kek.decrypt(nonce, sealed, _WRAP_AAD_PREFIX + token.kid.encode())
        except InvalidTag:
            raise DecryptionError(
                f"data key does not unwrap with key id {token.kid!r}: "
                "the token was altered or that key id now holds a different key"
            ) from None

    @staticmethod
    def _open(token: _Token, dek: bytes, aad: bytes) -> str:
        nonce, sealed = token.data[:NONCE_BYTES], token.data[NONCE_BYTES:]
        try:
            raw = AESGCM(dek).decrypt(nonce, sealed, aad)
        except InvalidTag:
            raise DecryptionError(
                "ciphertext does not authenticate: wrong context (value moved to another "
                "row or field) or the token was altered"
            ) from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:  # authenticated but not ours: another writer's bug
            raise DecryptionError("decrypted value is not UTF-8 text") from None


# --------------------------------------------------------------------------- masking


def mask(value: str, keep_start: int, keep_end: int, *, char: str = "*") -> str:
    """Hide the middle of ``value``, keeping ``keep_start`` and ``keep_end`` characters.

    Works on code points, so Chinese text is masked per character, never split mid-byte.
    The output has the input's length. A value too short to hide at least one character
    while keeping both ends is masked entirely: a mask must never reveal the whole value.
    """
    if keep_start < 0 or keep_end < 0:
        raise ValueError("keep_start and keep_end must not be negative")
    if len(char) != 1:
        raise ValueError("char must be a single character")
    n = len(value)
    if n <= keep_start + keep_end:
        return char * n
    return value[:keep_start] + char * (n - keep_start - keep_end) + value[n - keep_end :]


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: first 3 and last 4 digits, separators dropped."""
    return mask(re.sub(r"[\s\-]", "", phone), 3, 4)


def mask_id_number(id_number: str) -> str:
    """Resident ID ``110101199003071234`` -> ``110101********1234`` (region code, last 4)."""
    return mask(re.sub(r"\s", "", id_number).upper(), 6, 4)
