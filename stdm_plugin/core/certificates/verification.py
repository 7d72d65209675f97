"""Checking a scanned certificate code against the office keys and the certificate register.

The code's signature is checked with the office's public key (signing.py),
then whether that key was in use on the day the certificate was issued
(office_keys.py: a key retired before it signed is no proof), then the
register is asked whether that certificate exists, certifies what the code
says and is still valid (certificates.py). Without the register
(``verify_offline``, with the public key file the office hands out) only
the signature and the key's validity on the date in the code can be checked.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .certificates import Certificate
from .office_keys import OfficeKey, office_key
from .signing import MalformedPayloadError, ParsedPayload, parse_payload, signature_ok

if TYPE_CHECKING:
    from ..store.store import Store

#: "signed" is the offline answer: a genuine signature by a key valid that day, status unknown
VERIFICATION_STATUSES = ("valid", "revoked", "superseded", "forged", "unknown", "malformed",
                         "signed")


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
    #: the office key the code names, when this office (or the key file) has it
    key: OfficeKey | None = None
    #: the day the certificate was issued: the register's, or the code's when offline
    issued_on: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


#: why a code is forged: a key the office never had, a signature that does not match,
#: a number the register lacks, content other than the register's, a register edited
#: a key that was not in use on the day of issue
FORGED_REASONS = ("unknown_key", "bad_signature", "not_in_register", "hash_mismatch",
                  "register_tampered", "key_not_valid")


def verify_payload(store: "Store", payload_text: object) -> Verification:
    """Check a scanned code against this store's keys and certificate register."""
    try:
        parsed = parse_payload(payload_text)
    except MalformedPayloadError as exc:
        return Verification("malformed", str(exc))
    number = parsed.number
    key = office_key(store, parsed.key_id)
    checked = _signature_checked(parsed, key, "this office never had")
    if checked is not None:
        return checked
    cert = store.certificates.by_number(number)
    if cert is None:
        return Verification("forged", f"The signature is the office's, but the register has "
                            f"no certificate {number}: report it, the office key may have "
                            "been misused.", number, reason="not_in_register", key=key)
    if cert.snapshot_sha256 != parsed.snapshot_sha256 or cert.key_id != parsed.key_id \
            or parsed.issued_on not in (None, cert.issued_at[:10]):
        return Verification("forged", f"The signature is the office's, but what it certifies "
                            f"differs from certificate {number} in the register.", number,
                            certificate=cert, reason="hash_mismatch", key=key)
    if hashlib.sha256(cert.snapshot.encode("utf-8")).hexdigest() != cert.snapshot_sha256:
        return Verification("forged", f"Register tampered: the recorded content of "
                            f"certificate {number} no longer matches its digest.", number,
                            certificate=cert, reason="register_tampered", key=key)
    if not key.valid_on(cert.issued_at):  # type: ignore[union-attr]
        return _key_not_valid(number, key, cert.issued_at[:10], cert)  # type: ignore[arg-type]
    return dataclasses.replace(_status(store, cert), key=key, issued_on=cert.issued_at[:10])


def verify_offline(keys: list[OfficeKey], payload_text: object) -> Verification:
    """Check a scanned code with the office's public key file only: whose key signed it,
    and was that key in use on the issue date the code carries (STDM2)? Whether it was
    revoked or superseded since, only the register knows."""
    try:
        parsed = parse_payload(payload_text)
    except MalformedPayloadError as exc:
        return Verification("malformed", str(exc))
    key = next((k for k in keys if k.id == parsed.key_id), None)
    checked = _signature_checked(parsed, key, "that is not in the key file")
    if checked is not None:
        return checked
    number, issued_on = parsed.number, parsed.issued_on
    # a bare public key (no key file) does not say when it was in use: nothing to check
    if issued_on is not None and key.created_at \
            and not key.valid_on(issued_on):  # type: ignore[union-attr]
        return _key_not_valid(number, key, issued_on, None)  # type: ignore[arg-type]
    when = (f"issued {issued_on}" if issued_on else
            "the code is older and carries no issue date: compare the date printed on the "
            f"certificate with the key's period ({key.validity()})")  # type: ignore[union-attr]
    return Verification("signed", f"Certificate {number} was signed by the office's key ("
                        f"{when}). Without the register this cannot tell whether it has since "
                        "been revoked or superseded: ask the land office.", number, key=key,
                        issued_on=issued_on)


def _signature_checked(parsed: ParsedPayload, key: OfficeKey | None,
                       unknown: str) -> Verification | None:
    """The refusal when the key is unknown or the signature wrong; None when it holds."""
    number = parsed.number
    if key is None:
        return Verification("forged", f"Certificate {number} was signed with a key {unknown}: "
                            "it was not issued here.", number, reason="unknown_key")
    if not signature_ok(key.public_key, parsed):
        return Verification("forged", f"The signature of certificate {number} does not "
                            "match its content: the code was altered or made up.", number,
                            reason="bad_signature", key=key)
    return None


def _key_not_valid(number: str, key: OfficeKey, issued_on: str,
                   cert: Certificate | None) -> Verification:
    return Verification("forged", f"Certificate {number} is dated {issued_on}, when the key "
                        f"that signed it ({key.id}) was not in use ({key.validity()}): the key "
                        "was used after it was retired.", number, certificate=cert,
                        reason="key_not_valid", key=key, issued_on=issued_on)


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
