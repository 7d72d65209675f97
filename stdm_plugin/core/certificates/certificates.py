"""The certificate register: issue, reprint, revoke and supersede occupancy certificates.

A certificate is numbered per series without gaps (``KOU-2026-000123``):
the number is taken, the PDF rendered and the register written in one
transaction, so a failed render numbers nothing, and certificates are
never deleted (a database rule), so a number once given stays given.
What a certificate certifies is frozen in its snapshot (see
snapshot.py) and signed with the office key (signing.py);
later acts (reprint, revoke, supersede) write events and never change it.

Revoking leaves the claims named by the certificate as they are: if they
must be corrected, the land officer returns them to enumeration
(adjudication.return_to_enumeration) and, once they are approved again,
issues a new certificate.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..adjudication.adjudication import move_claims
from ..store.errors import (
    CertificateRefusedError,
    CertificateStatusError,
    RecordNotFoundError,
    StdmError,
    ValidationError,
)
from ..store.model import Record
from ..store.records import RecordRepository, require
from ..store.users import require_permission
from .office_keys import UnlockedKey, signer_for
from .sheet import CertificateSheet
from .signing import SERIES_PATTERN, payload_of, sign
from .snapshot import (
    build_snapshot,
    canonical_json,
    certificate_sheet,
    problems_of,
    read_parcel_claims,
    text_sha256,
)

if TYPE_CHECKING:
    from ..store.store import Store
    from ..store.users import User

#: ``render(sheet, pdf_path)`` writes the certificate's PDF at ``pdf_path``
Render = Callable[[CertificateSheet, str], Any]


@dataclass
class Certificate(Record):
    series: str = ""
    seq: int = 0
    number: str = ""
    spatial_unit_id: Optional[str] = None
    snapshot: str = ""  #: canonical JSON of what is certified
    snapshot_sha256: str = ""
    key_id: str = ""
    signature: str = ""  #: base64url, as in the QR payload
    language: str = "en"
    template: Optional[str] = None
    pdf_file: Optional[str] = None
    pdf_sha256: Optional[str] = None
    issued_at: str = ""
    issued_by: str = ""  #: login of the land officer
    status: str = "valid"
    print_count: int = 1
    revoked_reason: Optional[str] = None
    superseded_by: Optional[str] = None  #: id of the certificate that replaced this one

    @property
    def content(self) -> dict[str, Any]:
        return json.loads(self.snapshot)

    @property
    def parcel_code(self) -> str:
        return self.content["parcel"]["code"]

    @property
    def qr_payload(self) -> str:
        issued_on = self.issued_at[:10] if self.content.get("format_version", 1) >= 2 else None
        return payload_of(self.number, self.snapshot_sha256, self.key_id, self.signature,
                          issued_on)


class CertificateRepository(RecordRepository):
    table = "certificate"
    record_class = Certificate

    def by_number(self, number: str) -> Certificate | None:
        found = self.find("number = ?", (number,))
        return found[0] if found else None  # type: ignore[return-value]

    def of_parcel(self, spatial_unit_id: str) -> list[Certificate]:
        return self.find("spatial_unit_id = ?", (spatial_unit_id,),  # type: ignore[return-value]
                         order_by="issued_at, number")


@dataclass(frozen=True)
class IssuedCertificate:
    """One certificate written: its number, parcel and PDF."""

    number: str
    parcel_code: str
    pdf_path: str
    pdf_sha256: str
    certificate_id: str = ""
    qr_payload: str = ""


def find_certificate(store: "Store", number: str) -> Certificate | None:
    return store.certificates.by_number(number)


def certificate_history(store: "Store", number: str) -> list[dict[str, Any]]:
    """Every act on the certificate, oldest first (``other_number``: the one it relates to)."""
    return store.db.query(
        "SELECT e.event, e.happened_at, e.happened_by, e.reason, e.pdf_sha256, "
        "o.number AS other_number FROM certificate_event e "
        "JOIN certificate c ON c.id = e.certificate_id "
        "LEFT JOIN certificate o ON o.id = e.other_certificate_id "
        "WHERE c.number = ? ORDER BY e.id", (number,))


def issue_certificate(store: "Store", parcel_id: str, render: Render, out_dir: str,
                      *, language: str = "en", template: str | None = None,
                      series: str | None = None, today: str | None = None) -> IssuedCertificate:
    """Number, sign, render and register the certificate of one approved parcel.

    Writes ``<out_dir>/<number>.pdf``. Refused (CertificateRefusedError,
    with every reason) unless the parcel is eligible; nothing is numbered
    and no file is left if anything fails, the render included. ``today``
    (ISO date) only picks the year of the default series
    ``<settlement code>-<year>``.
    """
    user = require_permission(store, "issue")
    return _issue_and_publish(store, user, parcel_id, render, out_dir, language=language,
                              template=template, series=series, today=today)


def supersede(store: "Store", old_number: str, render: Render, out_dir: str,
              reason: str, *, language: str | None = None, template: str | None = None,
              series: str | None = None, today: str | None = None) -> IssuedCertificate:
    """Replace a valid certificate whose parcel's claims changed and are approved again.

    The new certificate gets a new number; the old one becomes superseded
    and points at it. Language and template default to the old one's.
    """
    user = require_permission(store, "supersede")
    reason = _required_reason(reason)
    old = _existing(store, old_number)
    return _issue_and_publish(
        store, user, old.spatial_unit_id, render, out_dir,  # type: ignore[arg-type]
        language=language or old.language,
        template=old.template if template is None else template, series=series, today=today,
        superseding=old.number, reason=reason)


def reprint(store: "Store", number: str, render: Render,
            out_dir: str) -> IssuedCertificate:
    """Print a valid certificate again: same number, same content, same QR code.

    Writes ``<out_dir>/<number>-print<n>.pdf`` (n counts every print).
    """
    require_permission(store, "reprint")
    output = _PendingPdf(out_dir)
    try:
        with store.transaction(), tempfile.TemporaryDirectory(prefix="stdm-cert-") as work:
            cert = _locked(store, number)
            _refuse_unless_valid(cert, "reprint")
            if text_sha256(cert.snapshot) != cert.snapshot_sha256:
                raise CertificateStatusError(
                    f"Register tampered: the recorded content of {number} no longer matches "
                    "its digest; it cannot be reprinted.", table="certificate",
                    field="snapshot", record_id=cert.id)
            count = cert.print_count + 1
            sheet = certificate_sheet(store, cert.content, cert.qr_payload, work,
                                      extra={"print_number": count})
            pdf_sha256 = output.render(render, sheet)
            # each act's event first: the database checks the register against it (schema 8)
            _event(store, cert.id, "reprinted", pdf_sha256=pdf_sha256)  # type: ignore[arg-type]
            store.certificates.update(cert.id, expected_version=cert.row_version,  # type: ignore[arg-type]
                                      print_count=count)
        path = output.publish(f"{sheet.file_stem}-print{count}.pdf")
    except BaseException:
        output.discard()
        raise
    return IssuedCertificate(cert.number, cert.parcel_code, path, pdf_sha256,
                             cert.id, cert.qr_payload)  # type: ignore[arg-type]


def revoke(store: "Store", number: str, reason: str) -> Certificate:
    """Withdraw a valid certificate; it stays in the register, marked revoked with why."""
    require_permission(store, "revoke")
    reason = _required_reason(reason)
    with store.transaction():
        cert = _locked(store, number)
        _refuse_unless_valid(cert, "revoke")
        _event(store, cert.id, "revoked", reason=reason)  # type: ignore[arg-type]
        revoked = store.certificates.update(
            cert.id, expected_version=cert.row_version,  # type: ignore[arg-type]
            status="revoked", revoked_reason=reason)
    return revoked  # type: ignore[return-value]


def default_series(store: "Store", settlement_id: str, today: str | None) -> str:
    code = store.db.scalar("SELECT code FROM settlement WHERE id = ?", (settlement_id,))
    try:
        year = dt.date.fromisoformat(today).year if today else dt.date.today().year
    except (TypeError, ValueError):
        raise ValidationError(f"today must be a date like 2026-11-25, not {today!r}",
                              table="certificate", field="series", value=today) from None
    return f"{code}-{year}"


# --- issuing, in one transaction ------------------------------------------------------------
def _issue_and_publish(store: "Store", user: "User", parcel_id: str, render: Render,
                       out_dir: str, *, language: str, template: str | None,
                       series: str | None, today: str | None, superseding: str | None = None,
                       reason: str | None = None) -> IssuedCertificate:
    signer = signer_for(store)
    require(bool(language) and len(language) <= 10 and language.replace("-", "").isalnum(),
            f"{language!r} is not a language code like 'en' or 'fr'", table="certificate",
            field="language", value=language)
    output = _PendingPdf(out_dir)
    try:
        with store.transaction(), tempfile.TemporaryDirectory(prefix="stdm-cert-") as work:
            issued, stem = _issue(store, user, signer, parcel_id, render, output, work,
                                  language=language, template=template, series=series,
                                  today=today, superseding=superseding, reason=reason)
        path = output.publish(f"{stem}.pdf")
    except BaseException:
        output.discard()
        raise
    return dataclasses.replace(issued, pdf_path=path)


def _issue(store: "Store", user: "User", signer: UnlockedKey, parcel_id: str,
           render: Render, output: "_PendingPdf", work: str, *, language: str,
           template: str | None, series: str | None, today: str | None,
           superseding: str | None, reason: str | None) -> tuple[IssuedCertificate, str]:
    from ..store.store import utc_now

    first_look = read_parcel_claims(store, parcel_id)
    if first_look.parcel is None:
        raise CertificateRefusedError(first_look.code, problems_of(store, first_look))
    series = series or default_series(store, first_look.parcel.settlement_id,  # type: ignore[arg-type]
                                      today)
    require(bool(SERIES_PATTERN.fullmatch(series)),
            f"The series {series!r} must be letters, digits, - or _ (at most 40)",
            table="certificate", field="series", value=series)
    store.db.lock_numbering("certificate:" + series)
    old = _locked(store, superseding) if superseding else None
    if old is not None:
        _refuse_unless_valid(old, "supersede")
    state = read_parcel_claims(store, parcel_id, lock=True)
    problems = problems_of(store, state, superseding=old.id if old else None)
    if problems:
        raise CertificateRefusedError(state.code, problems)
    seq = 1 + int(store.db.scalar(
        "SELECT coalesce(max(seq), 0) FROM certificate WHERE series = ?", (series,)) or 0)
    number = f"{series}-{seq:06d}"
    issued_at = utc_now()
    snapshot = canonical_json(build_snapshot(store, state, number=number, series=series,
                                             issued_at=issued_at, issuer=user,
                                             language=language))
    digest = text_sha256(snapshot)
    signature, payload = sign(signer, number, digest, issued_at[:10])
    sheet = certificate_sheet(store, json.loads(snapshot), payload, work,
                              extra={"print_number": 1})
    output.refuse_to_replace(f"{sheet.file_stem}.pdf")
    pdf_sha256 = output.render(render, sheet)
    cert = store.certificates.add(Certificate(
        series=series, seq=seq, number=number, spatial_unit_id=parcel_id, snapshot=snapshot,
        snapshot_sha256=digest, key_id=signer.key.id, signature=signature, language=language,
        template=template, pdf_file=f"{sheet.file_stem}.pdf", pdf_sha256=pdf_sha256,
        issued_at=issued_at, issued_by=user.login))
    _event(store, cert.id, "issued", pdf_sha256=pdf_sha256,  # type: ignore[arg-type]
           reason=f"supersedes {old.number}: {reason}" if old else None,
           other=old.id if old else None)
    move_claims(store, state.claims, "issued", role=user.role, note=number)
    if old is not None:
        _mark_superseded(store, old, cert.id, reason or "")  # type: ignore[arg-type]
    return IssuedCertificate(number, state.code, "", pdf_sha256, cert.id,  # type: ignore[arg-type]
                             payload), sheet.file_stem


def _mark_superseded(store: "Store", old: Certificate, new_id: str,
                     reason: str) -> None:
    _event(store, old.id, "superseded", reason=reason, other=new_id)  # type: ignore[arg-type]
    store.certificates.update(old.id, expected_version=old.row_version,  # type: ignore[arg-type]
                              status="superseded", superseded_by=new_id)


# --- small pieces ----------------------------------------------------------------------------
def _event(store: "Store", certificate_id: str, event: str, *,
           reason: str | None = None, pdf_sha256: str | None = None,
           other: str | None = None) -> None:
    from ..store.store import utc_now

    store.db.execute(
        "INSERT INTO certificate_event (certificate_id, event, happened_at, happened_by, "
        "reason, pdf_sha256, other_certificate_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (certificate_id, event, utc_now(), store.actor, reason, pdf_sha256, other))


def _existing(store: "Store", number: str) -> Certificate:
    cert = store.certificates.by_number(number)
    if cert is None:
        raise RecordNotFoundError("certificate", number)
    return cert


def _locked(store: "Store", number: str) -> Certificate:
    """The certificate, held until the transaction ends, as it is now."""
    store.db.lock_rows("certificate", [_existing(store, number).id])  # type: ignore[list-item]
    return _existing(store, number)


def _refuse_unless_valid(cert: Certificate, act: str) -> None:
    if cert.status != "valid":
        raise CertificateStatusError(
            f"Certificate {cert.number} is {cert.status}; only a valid certificate can be "
            f"{'reprinted' if act == 'reprint' else act + 'd'}.", table="certificate",
            field="status", value=cert.status, record_id=cert.id)


def _required_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("Give the reason; it is kept in the register",
                              table="certificate_event", field="reason")
    return text


class _PendingPdf:
    """A PDF rendered under a partial name, given its real name only once registered."""

    def __init__(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        self.out_dir = out_dir
        self.partial = os.path.join(out_dir, f".stdm-certificate-{uuid.uuid4().hex}.partial.pdf")

    def render(self, render: Render, sheet: CertificateSheet) -> str:
        """Render the sheet; returns the PDF's SHA-256."""
        render(sheet, self.partial)
        if not os.path.isfile(self.partial) or os.path.getsize(self.partial) == 0:
            raise StdmError(f"The certificate renderer wrote no PDF for {sheet.number}.")
        digest = hashlib.sha256()
        with open(self.partial, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def refuse_to_replace(self, name: str) -> None:
        """A certificate's file is never written over (another store's, an older run's)."""
        final = os.path.join(self.out_dir, name)
        if os.path.exists(final):
            raise StdmError(f"{final} already exists; issue into another folder (nothing "
                            "was numbered).")

    def publish(self, name: str) -> str:
        final = os.path.join(self.out_dir, name)
        os.replace(self.partial, final)
        return final

    def discard(self) -> None:
        if os.path.exists(self.partial):
            os.remove(self.partial)
