"""Cryptography of the decision log: pseudonyms, per-subject data keys, sealed fields, signatures.

Personal data never sits in plaintext in the log (GDPR Art. 25 and 32). Subject references become
keyed-HMAC pseudonyms, personal fields are sealed with AES-256-GCM under a data key that belongs to
one subject, and that data key is stored only wrapped by the key-encryption key (KEK). Erasure
(Art. 17) deletes the wrapped data key -- crypto-shredding -- so every ciphertext of that subject
becomes unreadable while the hash chain over the ciphertexts stays intact.

Ciphertext layout (both for wrapped keys and sealed fields)::

    nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes)

The associated data binds a ciphertext to where it belongs: a wrapped key to its pseudonym, a
sealed field to its table, row and field name (:func:`field_aad`). A ciphertext copied into another
row or field therefore fails to open instead of silently showing one person another's data.

Exceptions::

    CryptoError                 base class of everything raised here
    ├── KeyMaterialError        a key of the wrong length or type was given (also a ValueError)
    ├── DecryptionError         ciphertext, key or associated data do not match (tampered, moved)
    ├── KeyShredded             the subject's data key was erased (Art. 17): gone for good
    ├── KeyNotFoundError        no data key exists for this subject
    └── InvalidSignatureError   an Ed25519 signature does not verify
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ssl
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_BYTES",
    "CryptoError",
    "DecryptionError",
    "InvalidSignatureError",
    "KeyMaterialError",
    "KeyNotFoundError",
    "KeyShredded",
    "decrypt_field",
    "derive_key",
    "encrypt_field",
    "field_aad",
    "field_sealer",
    "hmac_sha256",
    "load_signing_key",
    "new_data_key",
    "pseudonymise",
    "public_key_bytes",
    "public_key_id",
    "random_bytes",
    "sign",
    "unwrap_data_key",
    "verify_signature",
    "wrap_data_key",
]

DATA_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
# Domain-separation labels: the same key material used for two purposes never yields
# interchangeable outputs (a pseudonym is never a valid wrap AAD, and so on).
_PSEUDONYM_LABEL = b"glassbox.pseudonym.v1"
_WRAP_LABEL = b"glassbox.data-key.v1"
_WRAP_LABEL_V2 = b"glassbox.data-key.v2"
_FIELD_LABEL = b"glassbox.field.v1"


class CryptoError(Exception):
    """Base class of the cryptographic failures of glassbox."""


class KeyMaterialError(CryptoError, ValueError):
    """A key of the wrong length or type was given."""


class DecryptionError(CryptoError):
    """A ciphertext does not open: wrong key, wrong associated data, or tampered bytes."""


class KeyShredded(CryptoError):  # noqa: N818  # reads as the state it reports
    """The subject's data key was erased (Art. 17): their sealed data can never be read again."""


class KeyNotFoundError(CryptoError):
    """No data key exists for this subject."""


class InvalidSignatureError(CryptoError):
    """An Ed25519 signature does not verify under the given public key."""


def _length_prefixed(*parts: bytes) -> bytes:
    # Unambiguous concatenation: ("ab", "c") and ("a", "bc") must never collide.
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def random_bytes(n: int) -> bytes:
    """``n`` cryptographically strong random bytes, without letting go of the GIL.

    OpenSSL's DRBG (NIST SP 800-90A), seeded from the operating system and reseeded in a forked
    child. ``os.urandom`` releases the GIL around its system call, and on the event loop every
    release is a hand-over: the log writer thread, which is always waiting for the GIL under
    load, takes it, and the loop waits for it back. Nonces and identifiers are needed several
    times per decision, so they come from here.

    Parameters
    ----------
    n : int
        How many bytes.

    Returns
    -------
    bytes
        The random bytes.
    """
    return ssl.RAND_bytes(n)


@functools.lru_cache(maxsize=16)
def _keyed_sha256(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under ``key``.

    The same value as ``hmac.digest(key, message, "sha256")``, from a copy of an HMAC already
    keyed with ``key`` (kept per key). The one-shot ``hmac.digest`` releases the GIL around its
    C call, which on the event loop costs a hand-over to the log writer thread (see
    :func:`random_bytes`); updating a short message does not.

    Parameters
    ----------
    key : bytes
        The key.
    message : bytes
        The message.

    Returns
    -------
    bytes
        The 32-byte MAC.
    """
    mac = _keyed_sha256(key).copy()
    mac.update(message)
    return mac.digest()


@functools.lru_cache(maxsize=16)
def derive_key(secret: bytes, *, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from a secret the service already holds.

    HKDF-SHA256 (RFC 5869) with the purpose as ``info``: the derived key reveals nothing of the
    secret, and keys derived for two purposes are unrelated, so a new use of the secret needs no
    new secret to configure. Derived once per secret and purpose (cached).

    Parameters
    ----------
    secret : bytes
        The secret to derive from (at least 32 bytes), e.g. the key-encryption key.
    purpose : str
        What the key is for, e.g. ``"glassbox.decision-row-mac.v1"``.

    Returns
    -------
    bytes
        32 bytes.
    """
    if len(secret) < DATA_KEY_BYTES:
        raise KeyMaterialError(f"a secret to derive from must be at least {DATA_KEY_BYTES} bytes")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_BYTES, salt=None, info=purpose.encode())
    return hkdf.derive(secret)


def _require_key(key: bytes, *, name: str) -> None:
    if not isinstance(key, bytes) or len(key) != DATA_KEY_BYTES:
        raise KeyMaterialError(f"{name} must be {DATA_KEY_BYTES} bytes")


def pseudonymise(key: bytes, subject_ref: str, *, namespace: str) -> str:
    """Turn a subject reference into a stable keyed pseudonym (Art. 4(5)).

    Parameters
    ----------
    key : bytes
        The pseudonym key (at least 32 bytes). Without it a pseudonym cannot be linked back to
        a reference, not even by trying every customer number.
    subject_ref : str
        The application's reference for the person (customer id, e-mail, ...).
    namespace : str
        The organisation or application the reference belongs to; the same reference in two
        namespaces yields unrelated pseudonyms.

    Returns
    -------
    str
        64 lowercase hex characters (HMAC-SHA256).
    """
    if len(key) < DATA_KEY_BYTES:
        raise KeyMaterialError(f"the pseudonym key must be at least {DATA_KEY_BYTES} bytes")
    message = _PSEUDONYM_LABEL + _length_prefixed(namespace.encode(), subject_ref.encode())
    return hmac_sha256(key, message).hex()


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key for one subject.

    Returns
    -------
    bytes
        32 random bytes from the operating system's CSPRNG.
    """
    return AESGCM.generate_key(bit_length=256)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = random_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionError("ciphertext is too short to be valid")
    try:
        return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not open with this key and context") from exc


def _wrap_aad(pseudonym: str, category: str | None, epoch: int | None) -> bytes:
    if category is None:
        # A subject's single key from before keys were split by retention category.
        return _WRAP_LABEL + _length_prefixed(pseudonym.encode())
    return _WRAP_LABEL_V2 + _length_prefixed(
        pseudonym.encode(), category.encode(), str(epoch or 0).encode()
    )


def wrap_data_key(
    kek: bytes,
    dek: bytes,
    *,
    pseudonym: str,
    category: str | None = None,
    epoch: int | None = None,
) -> bytes:
    """Encrypt a subject's data key under the key-encryption key.

    Parameters
    ----------
    kek : bytes
        The 32-byte key-encryption key.
    dek : bytes
        The subject's 32-byte data key.
    pseudonym : str
        The subject's pseudonym, bound as associated data so a wrapped key copied to another
        subject's row does not unwrap.
    category, epoch : str and int, optional
        The retention category and year the key serves, bound as well: a key of a category
        kept for ten years copied over one erased after two would not unwrap. Omitted for a
        subject's single key of before the split.

    Returns
    -------
    bytes
        ``nonce || ciphertext || tag``.
    """
    _require_key(kek, name="the key-encryption key")
    _require_key(dek, name="the data key")
    return _seal(kek, dek, _wrap_aad(pseudonym, category, epoch))


def unwrap_data_key(
    kek: bytes,
    wrapped: bytes,
    *,
    pseudonym: str,
    category: str | None = None,
    epoch: int | None = None,
) -> bytes:
    """Decrypt a wrapped data key.

    Parameters
    ----------
    kek : bytes
        The 32-byte key-encryption key.
    wrapped : bytes
        Output of :func:`wrap_data_key`.
    pseudonym : str
        The pseudonym the key was wrapped for.
    category, epoch : str and int, optional
        The retention category and year it was wrapped for (see :func:`wrap_data_key`).

    Returns
    -------
    bytes
        The 32-byte data key.

    Raises
    ------
    DecryptionError
        If the KEK, the pseudonym, the category, the epoch or the wrapped bytes do not match.
    """
    _require_key(kek, name="the key-encryption key")
    return _open(kek, wrapped, _wrap_aad(pseudonym, category, epoch))


def field_aad(table: str, row_id: int | str, field: str) -> bytes:
    """Associated data that binds a sealed field to its table, row and field name.

    Parameters
    ----------
    table : str
        Table name, e.g. ``"log_entry"``.
    row_id : int or str
        The row's stable identifier.
    field : str
        The field's name, e.g. ``"features"``.

    Returns
    -------
    bytes
        An unambiguous, length-prefixed encoding of the three parts.
    """
    return _FIELD_LABEL + _length_prefixed(table.encode(), str(row_id).encode(), field.encode())


def encrypt_field(dek: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Seal one personal field with AES-256-GCM.

    Parameters
    ----------
    dek : bytes
        The subject's 32-byte data key.
    plaintext : bytes
        The field's value, already serialised.
    aad : bytes
        Where the value belongs, from :func:`field_aad`.

    Returns
    -------
    bytes
        ``nonce || ciphertext || tag`` with a fresh random 96-bit nonce.
    """
    _require_key(dek, name="the data key")
    return _seal(dek, plaintext, aad)


def field_sealer(dek: bytes) -> Callable[[bytes, bytes], bytes]:
    """Return ``seal(plaintext, aad)`` that works as :func:`encrypt_field` under one data key.

    For sealing several fields under one key: the cipher is set up once.

    Parameters
    ----------
    dek : bytes
        The subject's 32-byte data key.

    Returns
    -------
    callable
        ``seal(plaintext, aad) -> nonce || ciphertext || tag``, a fresh random nonce each call.
    """
    _require_key(dek, name="the data key")
    cipher = AESGCM(dek)

    def seal(plaintext: bytes, aad: bytes) -> bytes:
        nonce = random_bytes(_NONCE_BYTES)
        return nonce + cipher.encrypt(nonce, plaintext, aad)

    return seal


def decrypt_field(dek: bytes, blob: bytes, *, aad: bytes) -> bytes:
    """Open a field sealed by :func:`encrypt_field`.

    Parameters
    ----------
    dek : bytes
        The subject's 32-byte data key.
    blob : bytes
        ``nonce || ciphertext || tag``.
    aad : bytes
        The associated data it was sealed with.

    Returns
    -------
    bytes
        The plaintext.

    Raises
    ------
    DecryptionError
        If the key or the associated data differ, or any byte was changed.
    """
    _require_key(dek, name="the data key")
    return _open(dek, blob, aad)


def load_signing_key(raw: bytes) -> Ed25519PrivateKey:
    """Build an Ed25519 private key from its raw 32-byte form.

    Parameters
    ----------
    raw : bytes
        The raw private key (seed).

    Returns
    -------
    Ed25519PrivateKey
        The signing key.
    """
    if len(raw) != 32:
        raise KeyMaterialError("an Ed25519 private key is 32 raw bytes")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Return the raw 32-byte public key of a signing key (or of a public key).

    Parameters
    ----------
    key : Ed25519PrivateKey or Ed25519PublicKey
        The key.

    Returns
    -------
    bytes
        The raw public key.
    """
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_id(public_key: bytes) -> str:
    """Return a short identifier of a raw public key, to tell signing keys apart after rotation.

    Parameters
    ----------
    public_key : bytes
        The raw 32-byte Ed25519 public key.

    Returns
    -------
    str
        The first 16 hex characters of its SHA-256.
    """
    return hashlib.sha256(public_key).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign a message with Ed25519.

    Parameters
    ----------
    key : Ed25519PrivateKey
        The signing key.
    message : bytes
        The exact bytes to sign.

    Returns
    -------
    bytes
        The 64-byte signature.
    """
    return key.sign(message)


def verify_signature(
    public_key: bytes | Ed25519PublicKey, message: bytes, signature: bytes
) -> None:
    """Check an Ed25519 signature.

    Parameters
    ----------
    public_key : bytes or Ed25519PublicKey
        The trusted public key (raw 32 bytes or a key object).
    message : bytes
        The bytes that were signed.
    signature : bytes
        The signature.

    Raises
    ------
    InvalidSignatureError
        If the signature does not verify, or the public key is malformed.
    """
    try:
        key = (
            Ed25519PublicKey.from_public_bytes(public_key)
            if isinstance(public_key, bytes)
            else public_key
        )
        key.verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise InvalidSignatureError("the signature does not verify under this public key") from exc
