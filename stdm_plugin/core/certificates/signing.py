"""The signed QR payload of a certificate, and checking a signature with a public key.

A certificate carries a short signed text in its QR code. Anyone with the
office's public key can check offline that the office issued that number,
on that day, for exactly that content (the snapshot's SHA-256); with the
register at hand, a check also says whether the certificate is still valid,
revoked or superseded. The payload is read from a camera, so it is parsed
strictly and a check never raises on any text: it says "malformed" or
"forged".

Two payloads exist: ``STDM2|number|issue date|digest|key id|signature``
(from schema 9 on: the date lets an offline check say whether the key was
valid when the certificate was issued) and the older
``STDM1|number|digest|key id|signature``, which still verifies.

Keys are Ed25519: the ``cryptography`` package signs and verifies where it is
installed, and ed25519.py (pure Python, the same bytes) where it is not, as
on a stock Windows QGIS; office_keys.py makes, protects and retires them.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..store.errors import StdmError
from . import ed25519

PAYLOAD_PREFIX = "STDM2"
#: the payload of certificates issued before schema 9 (no issue date)
OLD_PAYLOAD_PREFIX = "STDM1"
#: a QR code at error correction M stays near version 10 below this
MAX_PAYLOAD_CHARS = 300
KEY_ID_CHARS = 16
#: certificate numbers are "<series>-<6 or more digits>"; series of letters, digits, - and _
SERIES_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", re.ASCII)
NUMBER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}-[0-9]{6,9}", re.ASCII)
_B64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class MalformedPayloadError(StdmError):
    """A text that is not a certificate payload; the message says which part is wrong."""


class OfficeKeyError(StdmError):
    """No usable office key: none created yet, or a public key that is not one."""


def _cryptography():
    """``cryptography``'s Ed25519 when it is installed, else None (the pure path signs)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        return None
    return ed25519


def signing_library() -> str:
    """What signs and verifies here: 'cryptography', or 'pure Python' (ed25519.py)."""
    return "cryptography" if _cryptography() is not None else "pure Python"


def new_private_key() -> bytes:
    return ed25519.generate_private_key()


def public_of(private: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key."""
    library = _cryptography()
    if library is None:
        return ed25519.public_key(private)
    from cryptography.hazmat.primitives import serialization

    return library.Ed25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign_bytes(private: bytes, message: bytes) -> bytes:
    library = _cryptography()
    if library is None:
        return ed25519.sign(private, message)
    return library.Ed25519PrivateKey.from_private_bytes(private).sign(message)


def verify_bytes(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public``'s over ``message``; never raises on bad bytes."""
    library = _cryptography()
    if library is None:
        return ed25519.verify(public, message, signature)
    from cryptography.exceptions import InvalidSignature

    try:
        library.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def b64url(data: bytes) -> str:
    """Base64url without padding, the form used inside the payload."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str, size: int, what: str) -> bytes:
    """Decode exactly one canonical encoding of ``size`` bytes, or refuse."""
    if len(text) != -(-size * 4 // 3) or not _B64URL.fullmatch(text):
        raise MalformedPayloadError(f"The {what} is not {size} bytes in base64url.")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(data) != size or b64url(data) != text:
        raise MalformedPayloadError(f"The {what} is not a canonical base64url value.")
    return data


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:KEY_ID_CHARS]


def signed_message(number: str, snapshot_sha256: str, key_id: str,
                   issued_on: str | None) -> str:
    """The text the signature covers: everything in the payload before the signature.

    ``issued_on`` (YYYY-MM-DD) makes an STDM2 payload; None the older STDM1 one.
    """
    digest = b64url(bytes.fromhex(snapshot_sha256))
    if issued_on is None:
        return f"{OLD_PAYLOAD_PREFIX}|{number}|{digest}|{key_id}"
    return f"{PAYLOAD_PREFIX}|{number}|{issued_on}|{digest}|{key_id}"


class Signer(Protocol):
    """What signs a payload: an office key unlocked with its passphrase
    (office_keys.UnlockedKey), whose ``key.id`` names it."""

    key: Any

    def sign(self, message: bytes) -> bytes: ...


def sign(signer: Signer, number: str, snapshot_sha256: str,
         issued_on: str) -> tuple[str, str]:
    """(signature in base64url, the whole QR payload) for one certificate."""
    message = signed_message(number, snapshot_sha256, signer.key.id, issued_on)
    signature = b64url(signer.sign(message.encode("utf-8")))
    return signature, f"{message}|{signature}"


def payload_of(number: str, snapshot_sha256: str, key_id: str, signature: str,
               issued_on: str | None) -> str:
    """The payload of a certificate already in the register (reprints use it)."""
    return f"{signed_message(number, snapshot_sha256, key_id, issued_on)}|{signature}"


@dataclass(frozen=True)
class ParsedPayload:
    number: str
    snapshot_sha256: str  #: hex, as in the register
    key_id: str
    signature: bytes
    message: str  #: the signed part
    issued_on: str | None = None  #: YYYY-MM-DD in an STDM2 payload; None in STDM1


def parse_payload(text: object) -> ParsedPayload:
    """Read a scanned payload, refusing anything that is not exactly one.

    Only whitespace around the text is forgiven (some scanners add a line end).
    """
    if not isinstance(text, str):
        raise MalformedPayloadError("The scanned code is not text.")
    text = text.strip(" \t\r\n")
    if len(text) > MAX_PAYLOAD_CHARS:
        raise MalformedPayloadError(f"The scanned text is too long ({len(text)} characters) "
                                    "for a certificate code.")
    parts = text.split("|")
    if len(parts) == 6 and parts[0] == PAYLOAD_PREFIX:
        _, number, issued_on, digest, key_id, signature = parts
        if not _DATE.fullmatch(issued_on) or not _is_date(issued_on):
            raise MalformedPayloadError("The issue date in the code is not a date.")
    elif len(parts) == 5 and parts[0] == OLD_PAYLOAD_PREFIX:
        _, number, digest, key_id, signature = parts
        issued_on = None
    else:
        raise MalformedPayloadError(
            f"The scanned text is not a certificate code (it should read "
            f"{PAYLOAD_PREFIX}|number|date|digest|key|signature).")
    if not NUMBER_PATTERN.fullmatch(number):
        raise MalformedPayloadError("The certificate number in the code is not well formed.")
    snapshot_hash = _b64url_decode(digest, 32, "content digest")
    if not _KEY_ID.fullmatch(key_id):
        raise MalformedPayloadError("The key id in the code is not 16 hexadecimal digits.")
    signature_bytes = _b64url_decode(signature, 64, "signature")
    return ParsedPayload(number, snapshot_hash.hex(), key_id, signature_bytes,
                         "|".join(parts[:-1]), issued_on)


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _public_key(public_key_b64: str) -> bytes:
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raw = b""
    if len(raw) == 32 and ed25519.is_public_key(raw):
        return raw
    raise OfficeKeyError("That is not an Ed25519 public key (32 bytes in base64).")


def signature_ok(public_key_b64: str, parsed: ParsedPayload) -> bool:
    raw = _public_key(public_key_b64)
    if key_id_of(raw) != parsed.key_id:
        return False
    return verify_bytes(raw, parsed.message.encode("utf-8"), parsed.signature)


def verify_signature(public_key_b64: str, payload_text: object) -> bool:
    """Offline check without the register: did this key sign this payload?

    False for any payload that is malformed or signed otherwise; a public key
    that is not one raises OfficeKeyError (that is the caller's set-up).
    """
    _public_key(public_key_b64)
    try:
        parsed = parse_payload(payload_text)
    except MalformedPayloadError:
        return False
    return signature_ok(public_key_b64, parsed)
