"""Certificates for many parcels at once: all approved parcels of a settlement or block.

Each certificate is its own transaction, so one parcel that is refused or
whose render fails is reported and the batch goes on; cancelling stops
between two certificates, and every certificate issued until then stays
issued and is in the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..store.errors import CertificateRefusedError
from ..store.records import json_list
from ..store.report_csv import write_report_csv
from ..store.users import require_permission
from .certificates import IssuedCertificate, Render, issue_certificate
from .office_keys import signer_for

if TYPE_CHECKING:
    from ..store.store import Store

CSV_COLUMNS = ("parcel_code", "outcome", "number", "pdf_path", "pdf_sha256", "details")


@dataclass
class BatchReport:
    issued: list[IssuedCertificate] = field(default_factory=list)
    #: parcel code -> the reasons it was refused
    refused: dict[str, list[str]] = field(default_factory=dict)
    #: parcel code -> what went wrong (a render error, a lost connection...)
    failed: dict[str, str] = field(default_factory=dict)
    #: parcel codes left when the batch was cancelled
    not_attempted: list[str] = field(default_factory=list)
    cancelled: bool = False

    def summary(self) -> str:
        parts = [f"{len(self.issued)} certificate(s) issued"]
        if self.refused:
            parts.append(f"{len(self.refused)} parcel(s) refused")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.cancelled:
            parts.append(f"cancelled with {len(self.not_attempted)} parcel(s) not attempted")
        return ", ".join(parts) + "."

    def to_csv(self, path: str) -> None:
        """One row per parcel, for a spreadsheet (UTF-8 with a byte-order mark)."""
        rows = [*((i.parcel_code, "issued", i.number, i.pdf_path, i.pdf_sha256, "")
                  for i in self.issued),
                *((code, "refused", "", "", "", " ".join(reasons))
                  for code, reasons in self.refused.items()),
                *((code, "failed", "", "", "", error) for code, error in self.failed.items()),
                *((code, "not attempted", "", "", "", "the batch was cancelled")
                  for code in self.not_attempted)]
        write_report_csv(path, CSV_COLUMNS, rows)


def issue_batch(store: "Store", parcel_ids: list[str], render: Render, out_dir: str,
                *, language: str = "en", template: str | None = None,
                series: str | None = None, today: str | None = None,
                progress: Callable[[int, int], object] | None = None,
                is_cancelled: Callable[[], bool] | None = None) -> BatchReport:
    """Issue one certificate per parcel; refusals and failures are reported, not raised.

    Permission and the unlocked office key are checked once, before anything starts.
    """
    require_permission(store, "issue")
    signer_for(store)
    ids = list(dict.fromkeys(parcel_ids))
    codes = _codes(store, ids)
    report = BatchReport()
    for done, parcel_id in enumerate(ids):
        if is_cancelled is not None and is_cancelled():
            report.cancelled = True
            report.not_attempted = [codes[i] for i in ids[done:]]
            break
        try:
            report.issued.append(issue_certificate(
                store, parcel_id, render, out_dir, language=language, template=template,
                series=series, today=today))
        except CertificateRefusedError as exc:
            report.refused[exc.parcel_code] = exc.reasons
        except Exception as exc:  # any render or store error: report it and go on
            report.failed[codes[parcel_id]] = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            progress(done + 1, len(ids))
    return report


def _codes(store: "Store", ids: list[str]) -> dict[str, str]:
    codes = {i: i for i in ids}
    if ids:
        codes.update({r["id"]: r["code"] for r in store.db.query(
            f"SELECT id, code FROM spatial_unit WHERE id IN {store.db.json_list_sql}",
            (json_list(ids),))})
    return codes


def approved_parcels(store: "Store", settlement_id: str | None = None,
                     block: str | None = None) -> list[str]:
    """Ids of parcels whose current claims are all approved and that have no valid
    certificate, by code: the "all approved" batch of a settlement or a block."""
    where = ["u.kind = 'parcel'", "u.end_lifespan_version IS NULL"]
    params: list[str] = []
    if settlement_id is not None:
        where.append("u.settlement_id = ?")
        params.append(settlement_id)
    if block is not None:
        where.append("u.block = ?")
        params.append(block)
    claims = ("FROM social_tenure t WHERE t.spatial_unit_id = u.id "
              "AND t.end_lifespan_version IS NULL")
    return [r["id"] for r in store.db.query(
        f"SELECT u.id FROM spatial_unit u WHERE {' AND '.join(where)} "
        f"AND EXISTS (SELECT 1 {claims}) "
        f"AND NOT EXISTS (SELECT 1 {claims} AND t.adjudication_state <> 'approved') "
        "AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.spatial_unit_id = u.id "
        "AND c.status = 'valid') ORDER BY u.code", params)]
