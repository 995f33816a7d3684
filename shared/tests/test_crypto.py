"""Envelope encryption of personal data: round trips, tamper detection, rotation, masks."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from zhanli_shared.crypto import (
    DecryptionError,
    FieldCipher,
    KeyRing,
    is_token,
    mask,
    mask_id_number,
    mask_phone,
)
from zhanli_shared.settings import ServiceSettings

CTX = "commission:people:E1001:phone"
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
RING_A = KeyRing([("a", KEY_A)])
RING_B = KeyRing([("b", KEY_B)])
RING_BA = KeyRing([("b", KEY_B), ("a", KEY_A)])


def std(key: bytes) -> str:
    return base64.b64encode(key).decode()


def url(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


class FakeSettings:
    def __init__(self, data_keys: str | None = None, data_keys_file: str | None = None) -> None:
        self.data_keys = SecretStr(data_keys) if data_keys is not None else None
        self.data_keys_file = data_keys_file


def b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --------------------------------------------------------------------------- round trip


def test_round_trip_and_token_shape() -> None:
    cipher = FieldCipher(RING_A)
    token = cipher.encrypt("13812345678", context=CTX)
    assert token.isascii()
    assert token.startswith("zv1.a.")
    assert len(token.split(".")) == 4
    assert "13812345678" not in token
    assert is_token(token) and not is_token("13812345678")
    assert cipher.decrypt(token, context=CTX) == "13812345678"


def test_bytes_context_is_equivalent_to_str() -> None:
    cipher = FieldCipher(RING_A)
    token = cipher.encrypt("42000.00", context=CTX.encode())
    assert cipher.decrypt(token, context=CTX) == "42000.00"


@settings(max_examples=200, deadline=None)
@given(plaintext=st.text(), context=st.text(min_size=1))
def test_round_trip_property(plaintext: str, context: str) -> None:
    cipher = FieldCipher(RING_BA)
    assert cipher.decrypt(cipher.encrypt(plaintext, context=context), context=context) == plaintext


@settings(max_examples=50, deadline=None)
@given(plaintext=st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)))
def test_round_trip_chinese(plaintext: str) -> None:
    cipher = FieldCipher(RING_A)
    assert (
        cipher.decrypt(
            cipher.encrypt(plaintext, context="talent:people:张三:name"),
            context="talent:people:张三:name",
        )
        == plaintext
    )


@settings(max_examples=50, deadline=None)
@given(plaintext=st.text(), context=st.text(min_size=1))
def test_rotation_property(plaintext: str, context: str) -> None:
    old = FieldCipher(RING_A).encrypt(plaintext, context=context)
    rotated = FieldCipher(RING_BA).rotate(old, context=context)
    assert FieldCipher(RING_B).decrypt(rotated, context=context) == plaintext


def test_empty_string_round_trips() -> None:
    cipher = FieldCipher(RING_A)
    assert cipher.decrypt(cipher.encrypt("", context=CTX), context=CTX) == ""


def test_each_encryption_differs() -> None:
    cipher = FieldCipher(RING_A)
    tokens = {cipher.encrypt("110101199003071234", context=CTX) for _ in range(50)}
    assert len(tokens) == 50
    parts = [t.split(".") for t in tokens]
    assert len({p[2] for p in parts}) == 50  # fresh wrap nonce + DEK each time
    assert len({p[3] for p in parts}) == 50  # fresh data nonce each time


def test_empty_context_and_non_str_plaintext_are_refused() -> None:
    cipher = FieldCipher(RING_A)
    with pytest.raises(ValueError, match="context must not be empty"):
        cipher.encrypt("x", context="")
    not_a_str: Any = 12345
    with pytest.raises(TypeError, match="plaintext must be a str"):
        cipher.encrypt(not_a_str, context=CTX)


# --------------------------------------------------------------------------- failures


def test_wrong_context_fails() -> None:
    cipher = FieldCipher(RING_A)
    token = cipher.encrypt("13812345678", context="commission:people:E1001:phone")
    for other in ("commission:people:E1002:phone", "commission:people:E1001:id_number"):
        with pytest.raises(DecryptionError, match="wrong context"):
            cipher.decrypt(token, context=other)
    with pytest.raises(DecryptionError):
        cipher.rotate(token, context="commission:people:E1002:phone")


@pytest.mark.parametrize("part_index", [2, 3])
def test_flipping_any_byte_of_a_part_fails(part_index: int) -> None:
    cipher = FieldCipher(RING_A)
    token = cipher.encrypt("110101199003071234", context=CTX)
    parts = token.split(".")
    raw = b64d(parts[part_index])
    for i in range(len(raw)):
        for flip in (0x01, 0x80):
            mutated = bytearray(raw)
            mutated[i] ^= flip
            bad = parts.copy()
            bad[part_index] = b64e(bytes(mutated))
            with pytest.raises(DecryptionError):
                cipher.decrypt(".".join(bad), context=CTX)


def test_changing_any_character_fails() -> None:
    cipher = FieldCipher(RING_BA)
    token = cipher.encrypt("张三 13812345678", context=CTX)
    for i, ch in enumerate(token):
        for replacement in {"A", "a", "0", "_", ".", "-"} - {ch}:
            bad = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(DecryptionError):
                cipher.decrypt(bad, context=CTX)


def test_swapping_parts_between_tokens_fails() -> None:
    cipher = FieldCipher(RING_A)
    t1 = cipher.encrypt("13812345678", context=CTX).split(".")
    t2 = cipher.encrypt("13812345678", context=CTX).split(".")
    with pytest.raises(DecryptionError):
        cipher.decrypt(".".join([*t1[:3], t2[3]]), context=CTX)


def test_relabelled_kid_fails() -> None:
    ring = KeyRing([("a", KEY_A), ("a2", KEY_A)])  # same key under another id
    cipher = FieldCipher(ring)
    token = cipher.encrypt("x", context=CTX)
    with pytest.raises(DecryptionError, match="does not unwrap"):
        cipher.decrypt(token.replace("zv1.a.", "zv1.a2.", 1), context=CTX)


def test_truncated_and_malformed_tokens_fail() -> None:
    cipher = FieldCipher(RING_A)
    token = cipher.encrypt("13812345678", context=CTX)
    bad_tokens = [
        "",
        "13812345678",
        token[:-1],
        token[:-4],
        token + "A",
        token + ".x",
        token.replace("zv1.", "zv2.", 1),
        token.replace("zv1.a.", "zv1.a!.", 1),
        "zv1.a..",
        "zv1.a.AAAA.AAAA",
    ]
    for bad in bad_tokens:
        with pytest.raises(DecryptionError):
            cipher.decrypt(bad, context=CTX)
    no_token: Any = None
    with pytest.raises(DecryptionError, match="must be a str"):
        cipher.decrypt(no_token, context=CTX)


def test_errors_never_echo_the_token_or_plaintext() -> None:
    cipher = FieldCipher(RING_A)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt("110101199003071234", context=CTX)
    assert "110101199003071234" not in str(info.value)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt("zv9.13812345678.x.y", context=CTX)
    assert "13812345678" not in str(info.value)


def test_unknown_kid_fails() -> None:
    token = FieldCipher(RING_A).encrypt("13812345678", context=CTX)
    cipher_b = FieldCipher(RING_B)
    with pytest.raises(DecryptionError, match=r"unknown key id 'a'.*holds b"):
        cipher_b.decrypt(token, context=CTX)
    assert cipher_b.needs_rotation(token)
    with pytest.raises(DecryptionError, match="unknown key id"):
        cipher_b.rotate(token, context=CTX)


def test_same_kid_different_key_fails() -> None:
    token = FieldCipher(RING_A).encrypt("13812345678", context=CTX)
    with pytest.raises(DecryptionError, match="does not unwrap"):
        FieldCipher(KeyRing([("a", KEY_B)])).decrypt(token, context=CTX)


# --------------------------------------------------------------------------- rotation


def test_rotation_without_downtime() -> None:
    old_token = FieldCipher(RING_A).encrypt("110101199003071234", context=CTX)

    both = FieldCipher(RING_BA)  # B active, A retained
    assert both.decrypt(old_token, context=CTX) == "110101199003071234"
    assert both.needs_rotation(old_token)

    new_token = both.rotate(old_token, context=CTX)
    assert new_token.startswith("zv1.b.")
    assert not both.needs_rotation(new_token)
    assert new_token.split(".")[3] == old_token.split(".")[3]  # data not re-encrypted
    assert new_token.split(".")[2] != old_token.split(".")[2]

    only_b = FieldCipher(RING_B)
    assert only_b.decrypt(new_token, context=CTX) == "110101199003071234"
    with pytest.raises(DecryptionError):
        only_b.decrypt(old_token, context=CTX)


def test_new_values_use_the_active_key_and_rotate_is_idempotent() -> None:
    cipher = FieldCipher(RING_BA)
    token = cipher.encrypt("x", context=CTX)
    assert token.startswith("zv1.b.")
    assert not cipher.needs_rotation(token)
    assert cipher.rotate(token, context=CTX) == token


def test_needs_rotation_rejects_malformed_tokens() -> None:
    with pytest.raises(DecryptionError):
        FieldCipher(RING_A).needs_rotation("plain text")


def test_ring_rotated_and_without() -> None:
    ring = KeyRing.generate("k1")
    token = FieldCipher(ring).encrypt("13812345678", context=CTX)
    ring2 = ring.rotated("k2")
    assert ring2.kids == ("k2", "k1") and ring2.active_kid == "k2"
    rotated = FieldCipher(ring2).rotate(token, context=CTX)
    ring3 = ring2.without("k1")
    assert ring3.kids == ("k2",)
    assert FieldCipher(ring3).decrypt(rotated, context=CTX) == "13812345678"
    with pytest.raises(ValueError, match="no key id 'zz'"):
        ring3.without("zz")
    with pytest.raises(ValueError, match="empty"):
        ring3.without("k2")


# --------------------------------------------------------------------------- key ring


def test_parse_standard_and_urlsafe_base64() -> None:
    key_with_specials = bytes([0xFB, 0xFF, 0xBF] * 10 + [0xFE, 0xFF])  # '+/' vs '-_'
    assert "+" in std(key_with_specials) and "/" in std(key_with_specials)
    ring = KeyRing.parse(f"new:{std(key_with_specials)},old:{url(KEY_A)}")
    assert ring.kids == ("new", "old")
    assert ring.active_kid == "new"
    assert "old" in ring and "zz" not in ring and len(ring) == 2
    same = KeyRing.parse(f"new:{url(key_with_specials)},old:{std(KEY_A)}")
    assert same.to_text() == ring.to_text()


def test_parse_tolerates_whitespace_and_newlines() -> None:
    text = f"\n  b : {std(KEY_B)} ,\n\n a:{url(KEY_A)}\r\n"
    ring = KeyRing.parse(text)
    assert ring.kids == ("b", "a")
    assert KeyRing.parse(f"b:{std(KEY_B)}\na:{std(KEY_A)}").kids == ("b", "a")


def test_to_text_round_trips_and_repr_hides_keys() -> None:
    ring = KeyRing.generate("k1").rotated("k2")
    again = KeyRing.parse(ring.to_text())
    token = FieldCipher(ring).encrypt("x", context=CTX)
    assert FieldCipher(again).decrypt(token, context=CTX) == "x"
    assert repr(ring) == "KeyRing(active='k2', kids=('k2', 'k1'))"
    assert ring.to_text().split(",")[0].split(":")[1] not in repr(ring)


def test_generate_makes_distinct_keys() -> None:
    assert KeyRing.generate("k").to_text() != KeyRing.generate("k").to_text()
    with pytest.raises(ValueError, match="key id must be"):
        KeyRing.generate("bad kid")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        (" , \n ", "empty"),
        (f"a:{std(KEY_A)},a:{std(KEY_B)}", "duplicate key id 'a'"),
        ("a:not*base64!", r"entry 1 \(kid 'a'\): key is not valid base64"),
        (f"a:{std(KEY_A)},b:QUJD=X", r"entry 2 \(kid 'b'\): key is not valid base64"),
        (f"a:{std(KEY_A[:16])}", r"entry 1 \(kid 'a'\): key is 16 bytes, must be 32"),
        (f"a:{std(KEY_A + b'x')}", "key is 33 bytes"),
        (std(KEY_A), r"entry 1: expected 'kid:base64key'"),
        (f":{std(KEY_A)}", r"entry 1: expected 'kid:base64key'"),
        ("a:", r"entry 1 \(kid 'a'\): key is missing"),
        (f"a.b:{std(KEY_A)}", "key id must be"),
        (f"{'k' * 33}:{std(KEY_A)}", "key id must be"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        KeyRing.parse(text)
    for key in (KEY_A, KEY_B, KEY_A[:16]):
        assert std(key) not in str(info.value)
        assert url(key) not in str(info.value)


def test_key_swapped_with_kid_never_prints_the_key() -> None:
    # Someone wrote 'base64key:kid': the "kid" is key material and must not be shown.
    with pytest.raises(ValueError) as info:
        KeyRing.parse(f"{url(KEY_A)}:a")
    assert url(KEY_A) not in str(info.value)


def test_constructor_validates_keys() -> None:
    with pytest.raises(ValueError, match="key is 31 bytes"):
        KeyRing([("a", KEY_A[:31])])
    with pytest.raises(ValueError, match="empty"):
        KeyRing([])


def test_from_settings_inline() -> None:
    ring = KeyRing.from_settings(FakeSettings(data_keys=f"b:{std(KEY_B)},a:{std(KEY_A)}"))
    assert ring.kids == ("b", "a")


def test_from_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "data-keys"
    path.write_text(f"b:{url(KEY_B)},\n  a:{std(KEY_A)}\n")
    ring = KeyRing.from_settings(FakeSettings(data_keys_file=str(path)))
    assert ring.kids == ("b", "a")
    token = FieldCipher(ring).encrypt("x", context=CTX)
    assert FieldCipher(RING_B).decrypt(token, context=CTX) == "x"


def test_from_file_written_by_installer(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data-keys"
    path.parent.mkdir()
    ring = KeyRing.generate("k1")
    path.write_text(ring.to_text() + "\n")
    assert KeyRing.from_file(path).to_text() == ring.to_text()


def test_from_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no data keys configured"):
        KeyRing.from_settings(FakeSettings())
    with pytest.raises(ValueError, match="no data keys configured"):
        KeyRing.from_settings(FakeSettings(data_keys="  "))
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=f"data key file not found: {missing}"):
        KeyRing.from_settings(FakeSettings(data_keys_file=str(missing)))
    bad = tmp_path / "bad"
    bad.write_text(f"a:{std(KEY_A[:8])}")
    with pytest.raises(ValueError, match=rf"data key file {bad}: .*key is 8 bytes"):
        KeyRing.from_settings(FakeSettings(data_keys_file=str(bad)))
    with pytest.raises(ValueError, match=r"ZHANLI_DATA_KEYS: data key ring .*not valid base64"):
        KeyRing.from_settings(FakeSettings(data_keys="a:%%%"))
    good = tmp_path / "good"
    good.write_text(f"a:{std(KEY_A)}")
    with pytest.raises(ValueError, match="configure only one"):
        KeyRing.from_settings(FakeSettings(data_keys=f"a:{std(KEY_A)}", data_keys_file=str(good)))


def test_from_real_service_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZHANLI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("ZHANLI_DATA_KEYS", f"b:{std(KEY_B)},a:{std(KEY_A)}")
    cipher = FieldCipher.from_settings(ServiceSettings())
    assert cipher.keyring.kids == ("b", "a")
    assert f"{std(KEY_B)}" not in repr(ServiceSettings())


# --------------------------------------------------------------------------- masking


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138 1234 5678") == "138****5678"
    assert mask_phone("138-1234-5678") == "138****5678"
    assert mask_phone("1234567") == "*******"  # too short to keep both ends
    assert mask_phone("12345678") == "123*5678"
    assert mask_phone("") == ""


def test_mask_id_number() -> None:
    assert mask_id_number("110101199003071234") == "110101********1234"
    assert mask_id_number("11010119900307123x") == "110101********123X"
    assert mask_id_number("110101900307123") == "110101*****7123"  # 15-digit legacy ID
    assert mask_id_number("1101011234") == "**********"
    assert mask_id_number(" 110101199003071234 ") == "110101********1234"


def test_mask_generic() -> None:
    assert mask("张三丰", 1, 0) == "张**"
    assert mask("欧阳娜娜", 1, 1) == "欧**娜"
    assert mask("张三", 1, 1) == "**"
    assert mask("李", 1, 0) == "*"
    assert mask("", 2, 2) == ""
    assert mask("abcdef", 0, 0) == "******"
    assert mask("abcdef", 2, 2, char="#") == "ab##ef"
    assert mask("😀😀😀😀", 1, 1) == "😀**😀"
    with pytest.raises(ValueError, match="negative"):
        mask("abc", -1, 0)
    with pytest.raises(ValueError, match="single character"):
        mask("abc", 1, 1, char="**")


@given(value=st.text(), keep_start=st.integers(0, 10), keep_end=st.integers(0, 10))
def test_mask_properties(value: str, keep_start: int, keep_end: int) -> None:
    masked = mask(value, keep_start, keep_end)
    assert len(masked) == len(value)
    if value:
        assert masked != value or set(value) == {"*"}  # always hides something
    if len(value) > keep_start + keep_end:
        assert masked.startswith(value[:keep_start])
        assert masked.endswith(value[len(value) - keep_end :])


def test_os_urandom_is_the_nonce_source(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards against a refactor to a counter or constant nonce: nonces come from urandom.
    calls: list[int] = []
    real = os.urandom

    def spy(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr("zhanli_shared.crypto.os.urandom", spy)
    FieldCipher(RING_A).encrypt("x", context=CTX)
    assert calls == [12, 12]
