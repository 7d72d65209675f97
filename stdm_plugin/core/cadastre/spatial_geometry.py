"""The geometries of a spatial file: checked ring by ring, built, checked again and reprojected.

Rings are checked on the coordinates the file holds, before shapely sees
them (shapely would close an unclosed ring silently); validity is checked
where the file's coordinates are, then again in the store's CRS.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from ..store.errors import SourceCrsError, SpatialFileError
from .spatial_features import POLYGONAL, SpatialFeature, SpatialFile


def _parts(geometry: Any) -> list:
    return [geometry.coordinates] if geometry.type == "Polygon" else list(geometry.coordinates)


def _ring_problems(geometry: Any) -> list[tuple[str, str]]:
    """Unclosed, too short or non-finite rings, read from the file's own coordinates."""
    found = []
    parts = _parts(geometry)
    for p, rings in enumerate(parts):
        for r, ring in enumerate(rings):
            where = ("the outer ring" if r == 0 else f"hole {r}") + (
                f" of part {p + 1}" if len(parts) > 1 else "")
            if not ring:
                continue  # an empty ring, judged with the whole geometry
            if not all(math.isfinite(c) for point in ring for c in point):
                found.append(("bad_coordinates", f"{where} has a coordinate that is not a "
                                                  "finite number."))
                continue
            closed = tuple(ring[0][:2]) == tuple(ring[-1][:2])
            if not closed:
                found.append(("non_closed_ring", f"{where} is not closed: it starts at "
                              f"{_point(ring[0])} and ends at {_point(ring[-1])}."))
            corners = len({tuple(point[:2]) for point in ring})
            if corners < 3:
                found.append(("too_few_points", f"{where} has {corners} distinct corner(s) "
                              f"({len(ring)} points); a ring needs at least 3."))
    return found


def _point(point: Any) -> str:
    return f"({point[0]:.10g}, {point[1]:.10g})"


def build_geometries(raw: list[tuple[SpatialFeature, Any]], result: SpatialFile,
                      expect: tuple[str, ...] | None) -> None:
    from shapely.geometry import shape

    types = Counter(g.type for _f, g in raw if g is not None)
    result.geometry_types = dict(types)
    mix = ", ".join(f"{n} {t}" for t, n in types.most_common())
    if expect and types and not any(t in expect for t in types):
        raise SpatialFileError(f"{result.label} holds {mix} and no {' or '.join(expect)}.",
                               path=result.path, kind="wrong_geometry_type", layer=result.layer)
    for feature, geometry in raw:
        result.features.append(feature)
        if geometry is None:
            result.problem(feature, "no_geometry", "the feature has no geometry (null, or "
                           "empty).")
        elif expect and geometry.type not in expect:
            result.problem(feature, "mixed_geometry_types", f"a {geometry.type} among "
                           f"{' and '.join(expect)} features (the layer holds {mix}).",
                           value=geometry.type)
        elif geometry.type in POLYGONAL and (rings := _ring_problems(geometry)):
            for kind, reason in rings:
                result.problem(feature, kind, reason)
        else:
            try:
                built = shape(geometry)
            except Exception as exc:  # GEOS refuses some coordinates outright
                result.problem(feature, "invalid_geometry", f"not a usable geometry: {exc}")
                continue
            if built.is_empty:
                result.problem(feature, "empty_geometry", f"the {geometry.type} has no "
                               "coordinates.")
            else:
                feature.geometry = built


def project(result: SpatialFile, crs: Any, target_srid: int) -> None:
    """Check validity where the file's coordinates are, then reproject all at once."""
    import numpy
    import shapely
    from pyproj import CRS, Transformer
    from pyproj.exceptions import ProjError
    from shapely.validation import explain_validity

    built = [f for f in result.features if f.geometry is not None]
    if not built:
        return
    source = shapely.force_2d(numpy.array([f.geometry for f in built], dtype=object))
    valid = shapely.is_valid(source)
    for feature, geometry, ok in zip(built, source, valid):
        if not ok:
            result.problem(feature, "invalid_geometry", "the geometry is not valid: "
                           f"{_explained(explain_validity(geometry))}.")
    west, south, east, north = shapely.total_bounds(source)
    if crs.is_geographic and (min(west, south) < -180 or east > 180 or max(south, north) > 90
                              or south < -90):
        raise SourceCrsError(
            f"{result.label}: its coordinates (x {west:.0f} to {east:.0f}, y {south:.0f} to "
            f"{north:.0f}) are not longitudes and latitudes, yet the file says "
            f"{result.source_crs}. Say which CRS they are in (source CRS).",
            path=result.path, kind="unknown_crs", layer=result.layer)
    target = CRS.from_epsg(target_srid)
    projected = source
    if not crs.equals(target, ignore_axis_order=True):
        try:
            transform = Transformer.from_crs(crs, target, always_xy=True).transform
        except ProjError as exc:
            raise SourceCrsError(f"{result.label}: {result.source_crs} cannot be taken to "
                                 f"EPSG:{target_srid}: {exc}", path=result.path,
                                 kind="unknown_crs", layer=result.layer) from exc

        def move(xy: Any) -> Any:
            return numpy.column_stack(transform(xy[:, 0], xy[:, 1]))

        projected = shapely.transform(source, move)
    coordinates, owner = shapely.get_coordinates(projected, return_index=True)
    broken = set(owner[~numpy.isfinite(coordinates).all(axis=1)].tolist())
    still_valid = shapely.is_valid(projected)
    for i, feature in enumerate(built):
        feature.geometry = projected[i]
        if i in broken:
            feature.geometry = None
            result.problem(feature, "reprojection", f"some of its points cannot be taken from "
                           f"{result.source_crs} to EPSG:{target_srid}.")
        elif valid[i] and not still_valid[i]:
            result.problem(feature, "invalid_geometry", "the geometry became invalid when "
                           f"taken to EPSG:{target_srid}: "
                           f"{_explained(explain_validity(projected[i]))}.")


def _explained(text: str) -> str:
    """GEOS's "Self-intersection[x y]" as "self-intersection at (x, y)"."""
    found = re.match(r"^(.*)\[(\S+) (\S+)\]$", text)
    if not found:
        return text
    reason, x, y = found.groups()
    return f"{reason.lower()} at ({x}, {y}) in the file's coordinates"
