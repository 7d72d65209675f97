"""Reading a settlement's geometries once, in pages, into compact arrays.

The check must handle a million parcels on a field laptop, so nothing
holds a million shapely objects at once: each page (a keyset query on the
primary key, the same SQL on SpatiaLite and PostGIS) is parsed, checked
for what needs no neighbours (validity, the settlement boundary) and kept
only as WKB with its bounding box. The neighbour checks (geometry_tiles.py)
then parse one tile of it at a time.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy
import shapely

from ..store.crs import area_calculator
from ..store.errors import RecordNotFoundError
from .geometry_findings import (
    INVALID,
    OUTSIDE_SETTLEMENT,
    GeometryFinding,
    square_metres,
)

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

LOCATION_IN_REASON = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)")


@dataclass(frozen=True)
class ScopeSettlement:
    """A settlement being checked; ``boundary`` is usable (repaired if it was invalid)."""

    id: str
    code: str
    boundary: Any


@dataclass
class PackedUnits:
    """Parcels or structures as WKB and bounding boxes: a few hundred bytes each."""

    ids: numpy.ndarray  #: UTF-8 bytes
    codes: numpy.ndarray  #: UTF-8 bytes
    wkb: numpy.ndarray  #: objects: bytes
    bounds: numpy.ndarray  #: (n, 4) minx, miny, maxx, maxy
    valid: numpy.ndarray  #: bool
    is_point: numpy.ndarray  #: bool: a structure known only by its GPS point

    def __len__(self) -> int:
        return len(self.ids)

    def id(self, index: int) -> str:
        return self.ids[index].decode()

    def code(self, index: int) -> str:
        return self.codes[index].decode()

    def usable(self, indices: numpy.ndarray) -> numpy.ndarray:
        """The geometries at ``indices``, the invalid ones replaced by their repair."""
        geometries = shapely.from_wkb(self.wkb[indices])
        broken = ~self.valid[indices]
        if broken.any():
            geometries[broken] = [repair_polygonal(g) for g in geometries[broken]]
        return geometries


class PackedBuilder:
    """Collects pages of units into one PackedUnits."""

    def __init__(self) -> None:
        self._parts: list[tuple] = []

    def add(self, ids: list[str], codes: list[str], geometries: numpy.ndarray,
            valid: numpy.ndarray) -> None:
        if not ids:
            return
        self._parts.append((
            numpy.array([i.encode() for i in ids]), numpy.array([c.encode() for c in codes]),
            shapely.to_wkb(geometries), shapely.bounds(geometries), valid,
            shapely.get_type_id(geometries) == 0))

    def build(self) -> PackedUnits:
        if not self._parts:
            return PackedUnits(numpy.array([], dtype="S1"), numpy.array([], dtype="S1"),
                               numpy.array([], dtype=object), numpy.zeros((0, 4)),
                               numpy.zeros(0, dtype=bool), numpy.zeros(0, dtype=bool))
        columns = list(zip(*self._parts))
        self._parts = []
        return PackedUnits(*(numpy.concatenate(c) for c in columns))


def repair_polygonal(geometry: Any) -> Any:
    """GEOS make_valid, keeping the polygonal part as a MultiPolygon (or None if nothing)."""
    if geometry is None:
        return None
    if shapely.get_type_id(geometry) == 0:  # a point is valid or nothing
        return geometry
    repaired = shapely.make_valid(geometry)
    polygons = [p for p in shapely.get_parts(repaired, return_index=False)
                for p in _polygons_in(p)]
    if not polygons:
        return None
    merged = shapely.union_all(polygons)
    return merged if merged.geom_type == "MultiPolygon" else shapely.multipolygons([merged])


def _polygons_in(geometry: Any) -> list[Any]:
    kind = geometry.geom_type
    if kind == "Polygon":
        return [] if geometry.is_empty else [geometry]
    if kind in ("MultiPolygon", "GeometryCollection"):
        return [p for part in geometry.geoms for p in _polygons_in(part)]
    return []


def read_settlements(store: "SettlementStore", settlement_id: str | None,
                     findings: list[GeometryFinding]) -> list[ScopeSettlement]:
    """The current settlement(s) checked; an invalid boundary is reported and repaired."""
    db = store.db
    where = " AND id = ?" if settlement_id else ""
    rows = db.query(f"SELECT id, code, {db.geometry_as_wkb('boundary')} AS boundary "
                    f"FROM settlement WHERE end_lifespan_version IS NULL{where} ORDER BY code",
                    (settlement_id,) if settlement_id else ())
    if settlement_id and not rows:
        raise RecordNotFoundError("settlement", settlement_id)
    settlements = []
    for row in rows:
        boundary = None if row["boundary"] is None else shapely.from_wkb(
            bytes(row["boundary"]), on_invalid="ignore")
        if boundary is not None and boundary.is_empty:
            boundary = None
        if boundary is not None and not boundary.is_valid:
            findings.append(invalid_finding("settlement", row["id"], row["code"], boundary,
                                            shapely.is_valid_reason(boundary), "Settlement"))
            boundary = repair_polygonal(boundary)
        if boundary is not None:
            shapely.prepare(boundary)
        settlements.append(ScopeSettlement(row["id"], row["code"], boundary))
    return settlements


def unit_pages(store: "SettlementStore", kind: str, settlement_id: str | None,
               page_size: int) -> Iterator[list[dict[str, Any]]]:
    """Current parcels or structures, ``page_size`` rows at a time, in id order."""
    db = store.db
    scope = " AND settlement_id = ?" if settlement_id else ""
    sql = (f"SELECT id, code, settlement_id, {db.geometry_as_wkb('boundary')} AS footprint, "
           f"{db.geometry_as_wkb('location')} AS point FROM spatial_unit "
           f"WHERE kind = ? AND end_lifespan_version IS NULL{scope} AND id > ? "
           f"ORDER BY id LIMIT {int(page_size)}")
    last = ""
    while True:
        params = (kind, settlement_id, last) if settlement_id else (kind, last)
        rows = db.query(sql, params)
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]


def scan_page(rows: list[dict[str, Any]], kind: str, settlements: dict[str, ScopeSettlement],
              srid: int, area_tolerance_m2: float, builder: PackedBuilder,
              findings: list[GeometryFinding]) -> None:
    """Parse one page, report what needs no neighbours, keep the rest packed."""
    label = "Parcel" if kind == "parcel" else "Structure"
    kept, blobs = [], []
    for row in rows:
        blob = row["footprint"] if row["footprint"] is not None or kind == "parcel" \
            else row["point"]
        if blob is not None:
            kept.append(row)
            blobs.append(bytes(blob))
    geometries = shapely.from_wkb(numpy.array(blobs, dtype=object), on_invalid="ignore")
    missing = shapely.is_missing(geometries)
    readable = ~missing & ~shapely.is_empty(geometries)
    for row, damaged in zip(kept, missing):
        if damaged:
            point = shapely.from_wkb(bytes(row["point"]), on_invalid="ignore") \
                if row["point"] is not None else None
            findings.append(GeometryFinding(
                INVALID, "spatial_unit", (row["id"],), (row["code"],),
                f"{label} {row['code']} has a geometry that cannot be read (damaged WKB).",
                point if point is not None else shapely.Point(0, 0)))
    kept = [row for row, ok in zip(kept, readable) if ok]
    geometries = geometries[readable]
    valid = shapely.is_valid(geometries)
    for index in numpy.flatnonzero(~valid):
        row = kept[index]
        findings.append(invalid_finding("spatial_unit", row["id"], row["code"],
                                        geometries[index],
                                        shapely.is_valid_reason(geometries[index]), label))
    if kind == "parcel":
        findings += outside_settlement(kept, geometries, valid, settlements, srid,
                                       area_tolerance_m2)
    builder.add([r["id"] for r in kept], [r["code"] for r in kept], geometries, valid)


def invalid_finding(table: str, record_id: str, code: str, geometry: Any, reason: str,
                    label: str) -> GeometryFinding:
    """A finding for an invalid geometry, at the place GEOS names (else its first vertex)."""
    location = reason_location(geometry, reason)
    text = readable_reason(reason)
    return GeometryFinding(
        INVALID, table, (record_id,), (code,),
        f"{label} {code} has an invalid geometry: {text}. Repair it (make valid) or "
        "redraw it; until then it is left out of the overlap and duplicate checks.",
        location, geometry)


def reason_location(geometry: Any, reason: str) -> Any:
    """The point GEOS names in its reason, else the geometry's first vertex."""
    found = LOCATION_IN_REASON.search(reason)
    if found:
        return shapely.Point(float(found.group(1)), float(found.group(2)))
    first = shapely.get_coordinates(geometry)
    return shapely.Point(first[0]) if len(first) else shapely.Point(0, 0)


def readable_reason(reason: str) -> str:
    """'Self-intersection[10 2]' as 'Self-intersection at (10.00, 2.00)'."""
    found = LOCATION_IN_REASON.search(reason)
    if not found:
        return reason
    where = f" at ({float(found.group(1)):.2f}, {float(found.group(2)):.2f})"
    return re.sub(r"\[[^\]]*\]", where, reason)


def outside_settlement(rows: list[dict[str, Any]], geometries: numpy.ndarray,
                       valid: numpy.ndarray, settlements: dict[str, ScopeSettlement],
                       srid: int, area_tolerance_m2: float) -> list[GeometryFinding]:
    """Parcels that lie outside, or more than the tolerance outside, their settlement."""
    findings: list[GeometryFinding] = []
    by_settlement: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        site = settlements.get(row["settlement_id"])
        if site is not None and site.boundary is not None:
            by_settlement.setdefault(site.id, []).append(index)
    areas = area_calculator(srid)
    for site_id, indices in by_settlement.items():
        site = settlements[site_id]
        picked = numpy.array(indices)
        shapes = geometries[picked].copy()
        broken = ~valid[picked]
        if broken.any():
            shapes[broken] = [repair_polygonal(g) for g in shapes[broken]]
        present = numpy.array([s is not None for s in shapes], dtype=bool)
        picked, shapes = picked[present], shapes[present]
        outside = ~shapely.covers(site.boundary, shapes)
        if not outside.any():
            continue
        picked, shapes = picked[outside], shapes[outside]
        parts = shapely.difference(shapes, site.boundary)
        part_areas = areas.areas_m2(parts)
        whole_areas = areas.areas_m2(shapes)
        for index, shape, part, part_area, whole in zip(picked, shapes, parts, part_areas,
                                                         whole_areas):
            if part_area <= area_tolerance_m2:
                continue
            row = rows[index]
            if not shapely.intersects(site.boundary, shape):
                text = (f"Parcel {row['code']} lies entirely outside the boundary of "
                        f"settlement {site.code}.")
            else:
                text = (f"{square_metres(part_area)} of parcel {row['code']} "
                        f"({square_metres(whole)}) lies outside the boundary of settlement "
                        f"{site.code}.")
            findings.append(GeometryFinding(
                OUTSIDE_SETTLEMENT, "spatial_unit", (row["id"], site.id),
                (row["code"], site.code), text, shapely.point_on_surface(part), part,
                round(part_area, 2)))
    return findings


def count_units(store: "SettlementStore", kind: str, settlement_id: str | None) -> int:
    scope = " AND settlement_id = ?" if settlement_id else ""
    params = (kind, settlement_id) if settlement_id else (kind,)
    return int(store.db.scalar(
        f"SELECT count(*) FROM spatial_unit WHERE kind = ? AND end_lifespan_version IS NULL"
        f"{scope}", params) or 0)

