"""Checking a scanned certificate code against the office keys and the certificate register.

The code's signature is checked with the office's public key (signing.py),
then the register is asked whether that certificate exists, certifies what
the code says and is still valid (certificates.py).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .certificates import Certificate
from .signing import MalformedPayloadError, office_key, parse_payload, signature_ok

if TYPE_CHECKING:
    from ..store.store import Store

VERIFICATION_STATUSES = ("valid", "revoked", "superseded", "forged", "unknown", "malformed")


@dataclass(frozen=True)
class Verification:
    """What a scanned certificate code is worth, in one word and one sentence."""

    status: str  #: one of VERIFICATION_STATUSES
    details: str
    number: str | None = None
    superseded_by: str | None = None
    certificate: Certificate | None = None
    #: for "forged": which check failed, one of FORGED_REASONS
    reason: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


#: why a code is forged: a key the office never had, a signature that does not match,
#: a number the register lacks, content other than the register's, a register edited
FORGED_REASONS = ("unknown_key", "bad_signature", "not_in_register", "hash_mismatch",
                  "register_tampered")


def verify_payload(store: "Store", payload_text: object) -> Verification:
    """Check a scanned code against this store's keys and certificate register."""
    try:
        parsed = parse_payload(payload_text)
    except MalformedPayloadError as exc:
        return Verification("malformed", str(exc))
    number = parsed.number
    key = office_key(store, parsed.key_id)
    if key is None:
        return Verification("forged", f"Certificate {number} was signed with a key this "
                            "office never had: it was not issued here.", number,
                            reason="unknown_key")
    if not signature_ok(key.public_key, parsed):
        return Verification("forged", f"The signature of certificate {number} does not "
                            "match its content: the code was altered or made up.", number,
                            reason="bad_signature")
    cert = store.certificates.by_number(number)
    if cert is None:
        return Verification("forged", f"The signature is the office's, but the register has "
                            f"no certificate {number}: report it, the office key may have "
                            "been misused.", number, reason="not_in_register")
    if cert.snapshot_sha256 != parsed.snapshot_sha256 or cert.key_id != parsed.key_id:
        return Verification("forged", f"The signature is the office's, but what it certifies "
                            f"differs from certificate {number} in the register.", number,
                            certificate=cert, reason="hash_mismatch")
    if hashlib.sha256(cert.snapshot.encode("utf-8")).hexdigest() != cert.snapshot_sha256:
        return Verification("forged", f"Register tampered: the recorded content of "
                            f"certificate {number} no longer matches its digest.", number,
                            certificate=cert, reason="register_tampered")
    return _status(store, cert)


def _status(store: "Store", cert: Certificate) -> Verification:
    number = cert.number
    if cert.status == "valid":
        return Verification("valid", f"Certificate {number} is valid: issued "
                            f"{cert.issued_at[:10]} by {cert.issued_by}.", number,
                            certificate=cert)
    if cert.status == "revoked":
        return Verification("revoked", f"Certificate {number} was revoked: "
                            f"{cert.revoked_reason or 'no reason recorded'}.", number,
                            certificate=cert)
    if cert.status == "superseded":
        newer = store.certificates.get(cert.superseded_by) if cert.superseded_by else None
        newer_number = newer.number if newer else None
        return Verification("superseded", f"Certificate {number} was replaced by "
                            f"{newer_number or 'a newer certificate'}.", number,
                            superseded_by=newer_number, certificate=cert)
    return Verification("unknown", f"Certificate {number} has a status this plugin does not "
                        f"know ({cert.status}).", number, certificate=cert)
