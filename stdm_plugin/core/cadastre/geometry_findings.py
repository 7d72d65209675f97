"""What the geometry check finds, in a form a land officer and a GIS layer can both use.

Each finding names its kind, the records involved (ids for the software,
codes for people), one sentence that says what is wrong, a point to zoom
to and the geometry of the problem itself (the overlap, the gap, the part
outside the boundary...), as shapely objects and as WKB for QGIS.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..store.errors import StdmError
from ..store.report_csv import write_report_csv

INVALID = "invalid_geometry"
OVERLAP = "overlap"
DUPLICATE = "duplicate"
GAP = "gap"
OUTSIDE_SETTLEMENT = "outside_settlement"
STRUCTURE_OUTSIDE = "structure_outside_parcel"
#: how each kind reads in a summary, in the order a report lists them
KIND_LABELS = {
    INVALID: "invalid geometries",
    OVERLAP: "overlapping parcels",
    DUPLICATE: "duplicate parcels",
    GAP: "gaps between parcels",
    OUTSIDE_SETTLEMENT: "parcels outside their settlement",
    STRUCTURE_OUTSIDE: "structures outside any parcel",
}
CSV_COLUMNS = ("kind", "table", "record_ids", "record_codes", "area_m2", "x", "y", "message",
               "geometry_wkt")


class CheckCancelledError(StdmError):
    """The caller asked the check to stop (``is_cancelled`` returned True)."""


@dataclass(frozen=True)
class GeometryFinding:
    """One problem. ``location`` is a shapely Point; ``geometry`` the problem's shape."""

    kind: str
    table: str
    record_ids: tuple[str, ...]
    record_codes: tuple[str, ...]
    message: str
    location: Any
    geometry: Any = None
    area_m2: float | None = None

    @property
    def record_id(self) -> str:
        """The first record named (the parcel or structure the finding is about)."""
        return self.record_ids[0] if self.record_ids else ""

    @property
    def location_wkb(self) -> bytes:
        return self.location.wkb

    @property
    def geometry_wkb(self) -> bytes | None:
        return None if self.geometry is None else self.geometry.wkb

    def sort_key(self) -> tuple:
        kinds = list(KIND_LABELS)
        return (kinds.index(self.kind) if self.kind in kinds else len(kinds), self.record_codes,
                self.location.x, self.location.y)


@dataclass
class GeometryReport:
    """Everything one check found; empty findings means the geometries are clean."""

    location: str
    settlement_code: str | None = None
    parcels_checked: int = 0
    structures_checked: int = 0
    findings: list[GeometryFinding] = field(default_factory=list)
    #: what could not be checked, and why (e.g. a settlement without a boundary)
    notes: list[str] = field(default_factory=list)
    #: the tolerances used, by name
    tolerances: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, in the order of KIND_LABELS."""
        counted = Counter(f.kind for f in self.findings)
        return {kind: counted[kind] for kind in KIND_LABELS if counted[kind]}

    def of_kind(self, kind: str) -> list[GeometryFinding]:
        return [f for f in self.findings if f.kind == kind]

    def summary(self) -> str:
        """One line for a message bar or a log."""
        scope = f"settlement {self.settlement_code}" if self.settlement_code else "the store"
        checked = f"{self.parcels_checked:,} parcels and {self.structures_checked:,} structures"
        if self.ok:
            return f"No geometry problems in {scope} ({checked} checked)."
        parts = "; ".join(f"{KIND_LABELS[kind]}: {n}" for kind, n in self.counts().items())
        return f"{len(self.findings)} geometry problem(s) in {scope} ({checked}) — {parts}."

    def write_csv(self, path: str | os.PathLike) -> str:
        """The findings as CSV (UTF-8, WKT geometry); written whole or not at all."""
        return write_report_csv(path, CSV_COLUMNS, (
            (f.kind, f.table, ";".join(f.record_ids), ";".join(f.record_codes),
             "" if f.area_m2 is None else f"{f.area_m2:.2f}", f"{f.location.x:.3f}",
             f"{f.location.y:.3f}", f.message, "" if f.geometry is None else f.geometry.wkt)
            for f in self.findings), bom=False)


def listed(codes: list[str] | tuple[str, ...]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    codes = list(codes)
    if len(codes) <= 1:
        return "".join(codes)
    return ", ".join(codes[:-1]) + " and " + codes[-1]


def square_metres(area: float) -> str:
    return f"{area:,.2f} m²"
