"""Office signing keys, the signed QR payload, and checking a scanned certificate.

A certificate carries a short signed text in its QR code. Anyone with the
office's public key can check offline that the office issued that number
for exactly that content (the snapshot's SHA-256); with the register at
hand, a check also says whether the certificate is still valid, revoked or
superseded. The payload is read from a camera, so it is parsed strictly
and a check never raises on any text: it says "malformed" or "forged".

Keys are Ed25519 (the ``cryptography`` package, imported only when used so
that the rest of core works without it). The private key lives in the
store, like the register it signs: whoever can copy the store file can
sign. Keep the store where only the office can read it, and retire a key
(create a new one) when that may no longer hold; retired keys stay so that
the certificates they signed can still be checked.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..store.errors import StdmError, ValidationError
from ..store.users import require_permission

if TYPE_CHECKING:
    from ..store.store import Store

PAYLOAD_PREFIX = "STDM1"
#: a QR code at error correction M stays near version 10 below this
MAX_PAYLOAD_CHARS = 300
KEY_ID_CHARS = 16
#: certificate numbers are "<series>-<6 or more digits>"; series of letters, digits, - and _
SERIES_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", re.ASCII)
NUMBER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}-[0-9]{6,9}", re.ASCII)
_B64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)


class SigningUnavailableError(StdmError):
    """The ``cryptography`` package is not installed where the plugin runs."""


class MalformedPayloadError(StdmError):
    """A text that is not a certificate payload; the message says which part is wrong."""


class OfficeKeyError(StdmError):
    """No usable office key: none created yet, or a public key that is not one."""


def _ed25519():
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise SigningUnavailableError(
            "Signing and checking certificates needs the Python package 'cryptography' "
            "(Debian/Ubuntu: python3-cryptography; OSGeo4W and pip: cryptography). "
            "Install it for the Python that QGIS uses.") from exc
    return ed25519


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


@dataclass(frozen=True)
class OfficeKey:
    """The public part of an office key; the private key never leaves the store."""

    id: str
    office_name: str
    public_key: str  #: base64 of the 32 raw bytes
    created_at: str
    created_by: str
    retired_at: str | None = None
    algorithm: str = "ed25519"


_KEY_COLUMNS = "id, office_name, public_key, created_at, created_by, retired_at, algorithm"


def _key(row: dict[str, Any] | None) -> OfficeKey | None:
    return None if row is None else OfficeKey(**row)


def create_office_key(store: "Store", office_name: str) -> OfficeKey:
    """Make the office's new signing key; the key in use until now is retired."""
    from ..store.store import utc_now

    user = require_permission(store, "manage_keys")
    name = (office_name or "").strip()
    if not name:
        raise ValidationError("Name the office the key signs for", table="office_key",
                              field="office_name")
    private = _ed25519().Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    raw = serialization.Encoding.Raw
    private_raw = private.private_bytes(raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    public_raw = private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
    key_id = key_id_of(public_raw)
    now = utc_now()
    with store.transaction():
        store.db.lock_numbering("office_key")
        store.db.execute("UPDATE office_key SET retired_at = ? WHERE retired_at IS NULL",
                         (now,))
        store.db.execute(
            "INSERT INTO office_key (id, office_name, algorithm, public_key, private_key, "
            "created_at, created_by) VALUES (?, ?, 'ed25519', ?, ?, ?, ?)",
            (key_id, name, base64.b64encode(public_raw).decode("ascii"),
             base64.b64encode(private_raw).decode("ascii"), now,
             user.login if user else store.actor))
    return office_key(store, key_id)  # type: ignore[return-value]


def active_office_key(store: "Store") -> OfficeKey | None:
    return _key(store.db.query_one(
        f"SELECT {_KEY_COLUMNS} FROM office_key WHERE retired_at IS NULL "
        "ORDER BY created_at DESC, id LIMIT 1"))


def office_key(store: "Store", key_id: str) -> OfficeKey | None:
    return _key(store.db.query_one(f"SELECT {_KEY_COLUMNS} FROM office_key WHERE id = ?",
                                   (key_id,)))


def office_keys(store: "Store") -> list[OfficeKey]:
    """Every key the office ever signed with, oldest first."""
    return [OfficeKey(**r) for r in store.db.query(
        f"SELECT {_KEY_COLUMNS} FROM office_key ORDER BY created_at, id")]


def export_public_keys(store: "Store", path: str | None = None) -> str:
    """The public keys as JSON (for checking certificates offline); written to ``path``."""
    text = json.dumps({"store_id": store.store_id,
                       "keys": [asdict(k) for k in office_keys(store)]},
                      indent=2, ensure_ascii=False, sort_keys=True)
    if path is not None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return text


def signed_message(number: str, snapshot_sha256: str, key_id: str) -> str:
    """The text the signature covers: everything in the payload before the signature."""
    digest = b64url(bytes.fromhex(snapshot_sha256))
    return f"{PAYLOAD_PREFIX}|{number}|{digest}|{key_id}"


def sign(store: "Store", key: OfficeKey, number: str,
         snapshot_sha256: str) -> tuple[str, str]:
    """(signature in base64url, the whole QR payload) for one certificate."""
    row = store.db.query_one("SELECT private_key FROM office_key WHERE id = ?", (key.id,))
    if row is None:
        raise OfficeKeyError(f"The office key {key.id} is not in this store.")
    private = _ed25519().Ed25519PrivateKey.from_private_bytes(
        base64.b64decode(row["private_key"]))
    message = signed_message(number, snapshot_sha256, key.id)
    signature = b64url(private.sign(message.encode("utf-8")))
    return signature, f"{message}|{signature}"


def payload_of(number: str, snapshot_sha256: str, key_id: str, signature: str) -> str:
    """The payload of a certificate already in the register (reprints use it)."""
    return f"{signed_message(number, snapshot_sha256, key_id)}|{signature}"


@dataclass(frozen=True)
class ParsedPayload:
    number: str
    snapshot_sha256: str  #: hex, as in the register
    key_id: str
    signature: bytes
    message: str  #: the signed part


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
    if len(parts) != 5 or parts[0] != PAYLOAD_PREFIX:
        raise MalformedPayloadError(
            f"The scanned text is not a certificate code (it should read "
            f"{PAYLOAD_PREFIX}|number|digest|key|signature).")
    _, number, digest, key_id, signature = parts
    if not NUMBER_PATTERN.fullmatch(number):
        raise MalformedPayloadError("The certificate number in the code is not well formed.")
    snapshot_hash = _b64url_decode(digest, 32, "content digest")
    if not _KEY_ID.fullmatch(key_id):
        raise MalformedPayloadError("The key id in the code is not 16 hexadecimal digits.")
    signature_bytes = _b64url_decode(signature, 64, "signature")
    return ParsedPayload(number, snapshot_hash.hex(), key_id, signature_bytes,
                         "|".join(parts[:4]))


def _public_key(public_key_b64: str):
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raw = b""
    ed25519 = _ed25519()
    try:
        if len(raw) == 32:
            return raw, ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        pass
    raise OfficeKeyError("That is not an Ed25519 public key (32 bytes in base64).")


def signature_ok(public_key_b64: str, parsed: ParsedPayload) -> bool:
    raw, public = _public_key(public_key_b64)
    from cryptography.exceptions import InvalidSignature

    if key_id_of(raw) != parsed.key_id:
        return False
    try:
        public.verify(parsed.signature, parsed.message.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


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
