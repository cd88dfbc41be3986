"""Pseudonyms, wrapped data keys, sealed fields and signatures."""

from __future__ import annotations

import hmac
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from api.core.crypto import (
    CryptoError,
    DecryptionError,
    InvalidSignatureError,
    KeyMaterialError,
    decrypt_field,
    encrypt_field,
    field_aad,
    hmac_sha256,
    load_signing_key,
    new_data_key,
    pseudonymise,
    public_key_bytes,
    public_key_id,
    random_bytes,
    sign,
    unwrap_data_key,
    verify_signature,
    wrap_data_key,
)

KEY = os.urandom(32)


def test_pseudonyms_are_stable_keyed_and_scoped() -> None:
    one = pseudonym = pseudonymise(KEY, "customer-42", namespace="shop")
    assert len(pseudonym) == 64 and int(pseudonym, 16) >= 0
    assert pseudonymise(KEY, "customer-42", namespace="shop") == one
    assert pseudonymise(KEY, "customer-43", namespace="shop") != one
    assert pseudonymise(KEY, "customer-42", namespace="crm") != one
    assert pseudonymise(os.urandom(32), "customer-42", namespace="shop") != one
    # Length-prefixed: moving characters between namespace and reference changes the result.
    assert pseudonymise(KEY, "b", namespace="ab") != pseudonymise(KEY, "ab", namespace="a")


def test_pseudonyms_of_stored_records_stay_the_same() -> None:
    # A known answer: every pseudonym already stored (decisions, entries, keys) must still be
    # found under the same subject reference, whatever computes the HMAC.
    assert pseudonymise(bytes(range(32)), "customer-42", namespace="shop") == (
        "56c8278f743d37fc695bdfcc5f80ce764a100f397d18cbf2f3b2eec94db4a3ea"
    )


@given(key=st.binary(min_size=1, max_size=100), message=st.binary(max_size=300))
def test_hmac_sha256_is_the_standard_hmac(key: bytes, message: bytes) -> None:
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
    assert hmac_sha256(key, message + b"x") != hmac_sha256(key, message)


def test_random_bytes_are_of_the_length_asked_and_never_repeat() -> None:
    drawn = {random_bytes(12) for _ in range(10_000)}
    assert len(drawn) == 10_000 and {len(b) for b in drawn} == {12}


def test_pseudonyms_refuse_a_short_key() -> None:
    with pytest.raises(KeyMaterialError):
        pseudonymise(b"short", "x", namespace="shop")


@given(plaintext=st.binary(max_size=200), row=st.integers(min_value=1))
def test_sealed_fields_round_trip(plaintext: bytes, row: int) -> None:
    dek = new_data_key()
    aad = field_aad("log_entry", row, "features")
    blob = encrypt_field(dek, plaintext, aad=aad)
    assert decrypt_field(dek, blob, aad=aad) == plaintext


def test_every_seal_uses_a_fresh_nonce() -> None:
    dek, aad = new_data_key(), field_aad("t", 1, "f")
    first, second = encrypt_field(dek, b"same", aad=aad), encrypt_field(dek, b"same", aad=aad)
    assert first != second and first[:12] != second[:12]


@pytest.mark.parametrize(
    "other_aad",
    [
        field_aad("log_entry", 2, "features"),  # another row
        field_aad("log_entry", 1, "statement"),  # another field
        field_aad("case", 1, "features"),  # another table
        field_aad("log_entr", "y1", "features"),  # same bytes, split differently
    ],
)
def test_a_sealed_field_opens_only_where_it_belongs(other_aad: bytes) -> None:
    dek = new_data_key()
    blob = encrypt_field(dek, b"912.50 EUR", aad=field_aad("log_entry", 1, "features"))
    with pytest.raises(DecryptionError):
        decrypt_field(dek, blob, aad=other_aad)


def test_a_changed_byte_or_another_key_does_not_open() -> None:
    dek, aad = new_data_key(), field_aad("t", 1, "f")
    blob = encrypt_field(dek, b"secret", aad=aad)
    for i in (0, 12, len(blob) - 1):  # nonce, ciphertext, tag
        tampered = blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1 :]
        with pytest.raises(DecryptionError):
            decrypt_field(dek, tampered, aad=aad)
    with pytest.raises(DecryptionError):
        decrypt_field(new_data_key(), blob, aad=aad)
    with pytest.raises(DecryptionError):
        decrypt_field(dek, blob[:20], aad=aad)


def test_wrapped_keys_unwrap_only_for_their_subject_and_kek() -> None:
    kek, dek = new_data_key(), new_data_key()
    wrapped = wrap_data_key(kek, dek, pseudonym="alice")
    assert dek not in wrapped
    assert unwrap_data_key(kek, wrapped, pseudonym="alice") == dek
    with pytest.raises(DecryptionError):
        unwrap_data_key(kek, wrapped, pseudonym="bob")
    with pytest.raises(DecryptionError):
        unwrap_data_key(new_data_key(), wrapped, pseudonym="alice")


@pytest.mark.parametrize("bad", [b"", b"x" * 16, b"x" * 33])
def test_keys_of_the_wrong_size_are_refused(bad: bytes) -> None:
    with pytest.raises(KeyMaterialError):
        encrypt_field(bad, b"x", aad=b"")
    with pytest.raises(KeyMaterialError):
        wrap_data_key(bad, new_data_key(), pseudonym="p")
    with pytest.raises(KeyMaterialError):
        load_signing_key(bad)


def test_signatures_verify_only_for_the_message_and_key() -> None:
    key = load_signing_key(os.urandom(32))
    public = public_key_bytes(key)
    signature = sign(key, b"size=10")
    verify_signature(public, b"size=10", signature)
    verify_signature(key.public_key(), b"size=10", signature)
    with pytest.raises(InvalidSignatureError):
        verify_signature(public, b"size=11", signature)
    with pytest.raises(InvalidSignatureError):
        verify_signature(public_key_bytes(Ed25519PrivateKey.generate()), b"size=10", signature)
    with pytest.raises(InvalidSignatureError):
        verify_signature(b"not a key", b"size=10", signature)
    assert len(public_key_id(public)) == 16


def test_every_failure_is_a_crypto_error() -> None:
    for error in (DecryptionError, InvalidSignatureError, KeyMaterialError):
        assert issubclass(error, CryptoError)
