"""Signed checkpoints of the audit chain (pure: no I/O but the signature).

A checkpoint states "the entry at ``sequence`` has hash ``hash``", signed (RS256, a compact
JWS) with the platform's signing key, the key whose public half the gateway publishes in
its JWKS. Because every entry's hash covers the one before it, a checkpoint pins the whole
chain up to ``sequence``: whoever keeps a copy elsewhere (an auditor, a WORM bucket, a
ticket) can later prove that the past was not rewritten, even by someone with full
database access who recomputed every hash (they cannot sign a new checkpoint), and that no
entry was cut from the end. Verify with the public key only, offline:
``python -m zhanli_audit checkpoint-verify --public-key jwt-public.pem cp.json
[--export audit.jsonl]``.

The exported document::

    {"format": "zhanli-audit-checkpoint/1", "issuer": ..., "kid": ..., "sequence": N,
     "hash": "<hex>", "signed_at": "<UTC ISO 8601>", "signature": "<compact JWS>"}

The JWS payload repeats every other field; a document whose fields disagree with its
signed payload is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import Any

import jwt

from zhanli_audit.audit import chain

FORMAT = "zhanli-audit-checkpoint/1"
_SIGNED = ("format", "issuer", "kid", "sequence", "hash", "signed_at")


class CheckpointError(ValueError):
    """A checkpoint that does not verify (signature, fields, or the chain it pins)."""


def sign(
    sequence: int, entry_hash: str, *, private_pem: str, issuer: str, kid: str
) -> dict[str, Any]:
    payload = {
        "format": FORMAT,
        "issuer": issuer,
        "kid": kid,
        "sequence": sequence,
        "hash": entry_hash,
        "signed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    token = jwt.encode(payload, private_pem, algorithm="RS256", headers={"kid": kid})
    return {**payload, "signature": token}


def public_pem_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def verify_signature(doc: Mapping[str, Any], public_pem: str) -> dict[str, Any]:
    """The signed fields of ``doc`` when its signature holds under ``public_pem`` and the
    visible fields are the signed ones; else ``CheckpointError``."""
    token = doc.get("signature")
    if not isinstance(token, str):
        raise CheckpointError("the checkpoint has no signature")
    try:
        payload = jwt.decode(token, public_pem, algorithms=["RS256"], options={"verify_aud": False})
    except jwt.PyJWTError as exc:
        raise CheckpointError(f"the checkpoint's signature does not verify: {exc}") from exc
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"not a {FORMAT} document")
    for name in _SIGNED:
        if doc.get(name) != payload.get(name):
            raise CheckpointError(f"the checkpoint's {name!r} differs from what was signed")
    return {name: payload[name] for name in _SIGNED}


class ChainCheck:
    """Recompute a chain fed in sequence order (stored rows or an export), one entry at a
    time, and name the first fault: ``missing`` (a sequence number skipped: rows deleted),
    ``reordered`` (a row not linked to the one before it: moved, or rows swapped),
    ``altered`` (the row's content no longer gives its hash), ``rewritten`` /
    ``truncated`` (a signed checkpoint names an entry that no longer has the signed hash /
    that is no longer there)."""

    def __init__(self, checkpoints: Iterable[Mapping[str, Any]] = ()) -> None:
        self.pins = {int(c["sequence"]): str(c["hash"]) for c in checkpoints}
        self.expected, self.prev_hash, self.checked = 1, chain.GENESIS, 0
        self.result: dict[str, Any] | None = None

    def feed(self, entry: Mapping[str, Any]) -> bool:
        """False once a fault is found (``result`` names it)."""
        if self.result is not None:
            return False
        seq, expected = int(entry["sequence"]), self.expected
        fault: tuple[str, int, str] | None = None
        if seq > expected:
            fault = ("missing", expected, f"sequences {expected}..{seq - 1} are missing")
        elif seq < expected:
            fault = ("reordered", seq, f"sequence {seq} appears again after {expected - 1}")
        elif entry["prev_hash"] != self.prev_hash:
            fault = ("reordered", seq, f"entry {seq} does not link to entry {seq - 1}")
        elif chain.entry_hash(entry) != entry["hash"]:
            fault = ("altered", seq, f"entry {seq}'s content does not give its stored hash")
        elif seq in self.pins and self.pins[seq] != entry["hash"]:
            fault = ("rewritten", seq, f"entry {seq} differs from the signed checkpoint")
        if fault is not None:
            self.result = _bad(self.checked, *fault)
            return False
        self.checked += 1
        self.expected, self.prev_hash = seq + 1, str(entry["hash"])
        return True

    def finish(self) -> dict[str, Any]:
        if self.result is not None:
            return self.result
        beyond = sorted(s for s in self.pins if s >= self.expected)
        if beyond:
            return _bad(
                self.checked,
                "truncated",
                self.expected,
                f"a signed checkpoint names entry {beyond[-1]}; the chain ends at "
                f"{self.expected - 1}",
            )
        return {"ok": True, "checked": self.checked, "first_bad_sequence": None, "fault": None}


def check_chain(
    entries: Iterable[Mapping[str, Any]], checkpoints: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    check = ChainCheck(checkpoints)
    for entry in entries:
        if not check.feed(entry):
            break
    return check.finish()


def _bad(checked: int, fault: str, sequence: int, detail: str) -> dict[str, Any]:
    return {
        "ok": False,
        "checked": checked,
        "first_bad_sequence": sequence,
        "fault": fault,
        "detail": detail,
    }


def parse_export(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The entries of a JSON Lines export (``GET /api/v1/audit/entries/export?format=jsonl``),
    times back to datetimes so that they hash as stored."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        doc = json.loads(line)
        for name in ("occurred_at", "recorded_at"):
            doc[name] = dt.datetime.fromisoformat(doc[name])
        out.append(doc)
    return sorted(out, key=lambda d: int(d["sequence"]))


def cli(argv: list[str]) -> int:
    """``checkpoint-verify --public-key PEM CHECKPOINT.json [--export audit.jsonl]``: offline,
    with the public key only. Exit 0 when the checkpoint is genuine (and the export, when
    given, is an intact chain that contains the signed entry)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="zhanli-audit checkpoint-verify")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--public-key", type=Path, required=True)
    parser.add_argument("--export", type=Path, help="a JSON Lines export of the log")
    args = parser.parse_args(argv)
    try:
        signed = verify_signature(
            json.loads(args.checkpoint.read_text()), args.public_key.read_text()
        )
    except CheckpointError as exc:
        print(f"checkpoint: NOT GENUINE: {exc}")
        return 2
    print(f"checkpoint: genuine: entry {signed['sequence']} has hash {signed['hash']}")
    if args.export is None:
        return 0
    entries = parse_export(args.export.read_text(encoding="utf-8").splitlines())
    result = check_chain(entries, [signed])
    if not result["ok"]:
        print(f"export: BROKEN at {result['first_bad_sequence']}: {result['detail']}")
        return 1
    print(f"export: intact, {result['checked']} entries, agrees with the checkpoint")
    return 0
