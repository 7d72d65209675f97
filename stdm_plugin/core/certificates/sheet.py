"""What one occupancy certificate shows, handed from the register to the renderer.

The register (core) decides what is certified and freezes it; the print
layout (QGIS glue) only draws it. Keeping the hand-over a plain value
means the layout cannot read live data that has changed since the
snapshot was taken.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SheetHolder:
    """One holder as printed: name, tenure, share, and an optional ID photo."""

    name: str
    tenure_type: str  #: the label in the certificate's language, e.g. "Co-owner"
    share: str  #: "1/2", or "1" for a sole holder
    photo_path: str | None = None  #: an image file on disk, or None


@dataclass(frozen=True)
class CertificateSheet:
    """Everything printed on one certificate, already in the certificate's language."""

    number: str  #: e.g. "KOU-2026-000123"
    settlement_code: str
    settlement_name: str
    parcel_code: str
    parcel_wkb: bytes  #: the parcel's geometry in the store's CRS
    srid: int
    area_m2: float
    holders: tuple[SheetHolder, ...]
    issue_date: str  #: ISO 8601 date, e.g. "2026-11-25"
    issued_by: str  #: the land officer's name
    qr_payload: str  #: the signed text the QR code holds
    language: str = "en"
    block: str | None = None
    land_use: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def holders_text(self) -> str:
        """One line per holder: "Awa Koné — Co-owner (1/2)"."""
        return "\n".join(f"{h.name} — {h.tenure_type} ({h.share})" for h in self.holders)

    @property
    def file_stem(self) -> str:
        """A file name from the certificate number, safe on every file system."""
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.number)
