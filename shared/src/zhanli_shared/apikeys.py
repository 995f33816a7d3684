"""API keys of machine identities: the key format and its hash, pure functions, no I/O.

The people service stores the keys (the hash only); the gateway checks them and mints
short-lived tokens for them: both need exactly this.

A key reads ``zl_<key_id>_<secret>``: ``key_id`` is 16 hex digits (public: it names the key
in lists, audit entries and the ``sub`` ``apikey:<key_id>`` of its tokens), ``secret`` 256
random bits (URL-safe base64). Only ``sha256("<key_id>:<secret>")`` is stored: the secret has
full entropy, so a plain hash cannot be brute-forced and needs no salt; comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "zl_"
API_KEY_SUBJECT = "apikey:"  # the ``sub`` of the tokens minted for a key: apikey:<key_id>
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
MAX_KEY_LENGTH = 200


def new_key() -> tuple[str, str, str]:
    """A fresh key: (key_id, secret, the key as shown once)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, format_key(key_id, secret)


def format_key(key_id: str, secret: str) -> str:
    return f"{PREFIX}{key_id}_{secret}"


def parse_key(raw: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None."""
    if len(raw) > MAX_KEY_LENGTH or not raw.startswith(PREFIX):
        return None
    key_id, sep, secret = raw[len(PREFIX) :].partition("_")
    if not sep or not secret or not KEY_ID.match(key_id):
        return None
    return key_id, secret


def hash_secret(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def secret_matches(key_id: str, secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(key_id, secret).encode(), stored_hash.encode())
