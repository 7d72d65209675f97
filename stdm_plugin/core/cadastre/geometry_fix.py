"""Safe repairs of a parcel's geometry: make it valid, snap it to its neighbours.

Both repairs write through the spatial unit repository, so the audit log
keeps the old geometry (the record's history shows it), the row version
catches a concurrent edit, and the area is measured again. Both refuse,
with the reason, rather than write a repair that changes the land: one
that loses more area than allowed, one that leaves the geometry invalid,
and any change to a parcel whose boundary is frozen in a valid
certificate (revoke or supersede the certificate first). Claims in
adjudication do not lock their parcel's geometry (the database rules lock
the claims only), so those parcels can be repaired.

A repair that has nothing to do (already valid, nothing within the
tolerance) writes nothing and says so (``changed`` False).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy
import shapely

from ..store.crs import area_calculator
from ..store.errors import ValidationError
from .geometry_scan import readable_reason, repair_polygonal
from .geometry_units import map_units

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

#: snapping farther than this is redrawing, not repairing (metres)
MAX_SNAP_TOLERANCE_M = 5.0


class GeometryFixRefusedError(ValidationError):
    """A repair that would not be safe; the message says why and what to do instead."""


@dataclass(frozen=True)
class GeometryFix:
    """What a repair did (or would have done, had anything needed doing)."""

    record_id: str
    code: str
    changed: bool
    message: str
    old_geometry: Any
    new_geometry: Any
    area_before_m2: float
    area_after_m2: float
    row_version: int


def fix_invalid(store: "SettlementStore", record_id: str, *, max_area_loss: float = 0.01,
                expected_version: int | None = None) -> GeometryFix:
    """Make a parcel's or footprint's boundary valid (GEOS make_valid, polygons kept).

    Refused if the valid shape encloses less than ``1 - max_area_loss`` of
    the land the drawn rings enclose (a loop drawn twice over is dropped by
    make_valid, so that land would silently leave the parcel).
    """
    with store.transaction():
        unit = _editable(store, record_id, expected_version)
        old = unit.boundary
        if old is None or old.is_empty:
            raise _refused(unit, f"{unit.code} has no boundary to repair.")
        if old.is_valid:
            return _unchanged(store, unit, f"{unit.code} is already valid; nothing to repair.")
        new = repair_polygonal(old)
        if new is None or new.is_empty:
            raise _refused(unit, f"{unit.code}: making the boundary valid leaves no area at "
                                 "all; redraw it.")
        drawn = enclosed_area(old)
        loss = (drawn - new.area) / drawn if drawn > 0 else 1.0
        if loss > max_area_loss:
            raise _refused(unit, f"{unit.code}: the valid boundary would lose {100 * loss:.1f}% "
                                 f"of the area the drawn lines enclose (at most "
                                 f"{100 * max_area_loss:.1f}% is allowed); redraw it instead.")
        reason = readable_reason(shapely.is_valid_reason(old))
        return _write(store, unit, new, f"{unit.code}: boundary made valid ({reason} "
                                        "repaired).")


def snap_to_neighbour(store: "SettlementStore", record_id: str, tolerance_m: float, *,
                      max_area_change: float = 0.05,
                      expected_version: int | None = None) -> GeometryFix:
    """Move a parcel's vertices onto its neighbours' vertices and edges within the tolerance.

    A vertex within ``tolerance_m`` of a neighbouring parcel's vertex moves
    onto it; failing that, onto the nearest point of a neighbouring parcel's
    edge; then the neighbours' vertices near this parcel's edges are put
    into them, so that shared edges match vertex for vertex. Refused if the
    result is invalid or its area changes by more than ``max_area_change``.
    """
    if not 0 < tolerance_m <= MAX_SNAP_TOLERANCE_M:
        raise ValidationError(f"The snapping tolerance must be more than 0 and at most "
                              f"{MAX_SNAP_TOLERANCE_M:g} m, not {tolerance_m!r}",
                              table="spatial_unit", field="boundary", value=tolerance_m)
    with store.transaction():
        unit = _editable(store, record_id, expected_version)
        old = unit.boundary
        if unit.kind != "parcel":
            raise _refused(unit, f"{unit.code} is a structure; only parcels are snapped.")
        if old is None or not old.is_valid:
            raise _refused(unit, f"{unit.code} is not valid; repair it before snapping.")
        tolerance = map_units(store.srid, old.centroid.y).length(tolerance_m)
        others = _neighbours(store, unit, tolerance)
        if not len(others):
            return _unchanged(store, unit, f"{unit.code} has no neighbouring parcel within "
                                           f"{tolerance_m:g} m; nothing to snap.")
        new = snapped(old, others, tolerance)
        if shapely.equals_exact(shapely.normalize(new), shapely.normalize(old), 0.0):
            return _unchanged(store, unit, f"{unit.code}: nothing within {tolerance_m:g} m to "
                                           "snap to.")
        if not new.is_valid:
            reason = readable_reason(shapely.is_valid_reason(new))
            raise _refused(unit, f"{unit.code}: snapping would make the boundary invalid "
                                 f"({reason}); edit it by hand.")
        change = abs(new.area - old.area) / old.area
        if change > max_area_change:
            raise _refused(unit, f"{unit.code}: snapping would change the area by "
                                 f"{100 * change:.1f}% (at most {100 * max_area_change:.1f}% "
                                 "is allowed); edit it by hand.")
        return _write(store, unit, new, f"{unit.code}: snapped to {len(others)} neighbouring "
                                        f"parcel(s) within {tolerance_m:g} m.")


def snapped(geometry: Any, neighbours: numpy.ndarray, tolerance: float) -> Any:
    """``geometry`` with its vertices moved onto the neighbours (map units)."""
    edges = shapely.union_all(shapely.boundary(neighbours))
    corners = shapely.multipoints(shapely.get_coordinates(neighbours))

    def move(coords: numpy.ndarray) -> numpy.ndarray:
        points = shapely.points(coords)
        out = coords.copy()
        to_corner = shapely.shortest_line(points, corners)
        corner_gap = shapely.length(to_corner)
        to_edge = shapely.shortest_line(points, edges)
        edge_gap = shapely.length(to_edge)
        on_corner = (corner_gap > 0) & (corner_gap <= tolerance)
        on_edge = ~on_corner & (edge_gap > 0) & (edge_gap <= tolerance)
        out[on_corner] = shapely.get_coordinates(shapely.get_point(to_corner[on_corner], 1))
        out[on_edge] = shapely.get_coordinates(shapely.get_point(to_edge[on_edge], 1))
        return out

    moved = shapely.transform(geometry, move)
    result = shapely.snap(moved, corners, tolerance)
    return result if result.geom_type == "MultiPolygon" else shapely.multipolygons([result])


def enclosed_area(geometry: Any) -> float:
    """The planar area the drawn rings enclose (see enclosed_shape)."""
    return float(enclosed_shape(geometry).area)


def enclosed_shape(geometry: Any) -> Any:
    """The land the drawn rings enclose, each piece counted once.

    Each ring is noded and its faces kept whole (a bow-tie encloses both
    of its triangles, a loop drawn twice over its land once); holes are
    taken out of their own polygon, and the polygons of a multi-polygon are
    joined.
    """
    pieces = []
    for polygon in shapely.get_parts(geometry):
        shell = _ring_faces(polygon.exterior)
        holes = [_ring_faces(ring) for ring in polygon.interiors]
        pieces.append(shapely.difference(shell, shapely.union_all(holes)) if holes else shell)
    return shapely.union_all(pieces) if pieces else shapely.Polygon()


def _ring_faces(ring: Any) -> Any:
    noded = shapely.union_all([shapely.LineString(ring.coords)])
    faces = shapely.get_parts(shapely.polygonize([noded]))
    return shapely.union_all(faces) if len(faces) else shapely.Polygon()


# --- reading and writing ---------------------------------------------------------------------
def _editable(store: "SettlementStore", record_id: str, expected_version: int | None):
    """The current unit, held for this transaction, if its geometry may change."""
    from ..store.errors import ConcurrentEditError

    store.db.lock_rows("spatial_unit", [record_id])
    unit = store.spatial_units.get(record_id)
    if expected_version is not None and expected_version != unit.row_version:
        raise ConcurrentEditError("spatial_unit", record_id, unit.updated_by, unit.updated_at)
    certified = store.db.query(
        "SELECT number FROM certificate WHERE spatial_unit_id = ? AND status = 'valid' "
        "ORDER BY number", (record_id,))
    if certified:
        numbers = ", ".join(row["number"] for row in certified)
        raise _refused(unit, f"{unit.code} has a valid certificate ({numbers}) that holds its "
                             "boundary as issued; revoke or supersede the certificate before "
                             "changing the geometry.")
    return unit


def _neighbours(store: "SettlementStore", unit, tolerance: float) -> numpy.ndarray:
    """Current parcels within ``tolerance`` of the unit, found through the spatial index."""
    db = store.db
    x0, y0, x1, y1 = unit.boundary.bounds
    box = (x0 - tolerance, y0 - tolerance, x1 + tolerance, y1 + tolerance)
    if db.dialect == "postgis":
        near = f"boundary && ST_MakeEnvelope(?, ?, ?, ?, {int(store.srid)})"
        params: tuple = box
    else:  # SpatiaLite keeps its R-tree as a table of boxes keyed by rowid
        near = ("rowid IN (SELECT pkid FROM idx_spatial_unit_boundary WHERE xmin <= ? AND "
                "xmax >= ? AND ymin <= ? AND ymax >= ?)")
        params = (box[2], box[0], box[3], box[1])
    rows = db.query(f"SELECT {db.geometry_as_wkb('boundary')} AS boundary FROM spatial_unit "
                    f"WHERE kind = 'parcel' AND end_lifespan_version IS NULL AND id <> ? "
                    f"AND {near}", (unit.id, *params))
    shapes = shapely.from_wkb([bytes(r["boundary"]) for r in rows if r["boundary"] is not None])
    if not len(shapes):
        return shapes
    shapes = shapes[shapely.is_valid(shapes)]
    return shapes[shapely.distance(shapes, unit.boundary) <= tolerance]


def _write(store: "SettlementStore", unit, new: Any, message: str) -> GeometryFix:
    areas = area_calculator(store.srid)
    changes: dict[str, Any] = {"boundary": new}
    if unit.kind == "parcel" and (unit.location is None or not new.covers(unit.location)):
        changes["location"] = new.representative_point()
    saved = store.spatial_units.update(unit.id, expected_version=unit.row_version, **changes)
    return GeometryFix(unit.id, unit.code, True, message, unit.boundary, new,
                       round(areas.area_m2(enclosed_shape(unit.boundary)), 2),
                       saved.area_m2, saved.row_version)  # type: ignore[arg-type]


def _unchanged(store: "SettlementStore", unit, message: str) -> GeometryFix:
    area = unit.area_m2 if unit.area_m2 is not None else round(
        area_calculator(store.srid).area_m2(unit.boundary), 2)
    return GeometryFix(unit.id, unit.code, False, message, unit.boundary, unit.boundary,
                       area, area, unit.row_version)


def _refused(unit, message: str) -> GeometryFixRefusedError:
    return GeometryFixRefusedError(message, table="spatial_unit", field="boundary",
                                   record_id=unit.id)
