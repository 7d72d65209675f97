"""The neighbour checks, one tile of the settlement at a time.

The parcels are cut into rectangular tiles of about the same number of
parcels (strips of equal count, then cells of equal count in each strip).
A tile loads the parcels whose bounding box reaches it, builds one STRtree
and asks it in bulk, so that a million parcels never sit in memory as
shapely objects at once and no Python loop runs over pairs of neighbours.

Each result is reported by exactly one tile: an overlapping pair by the
tile holding the lower-left corner of the pair's common bounding box (both
parcels reach that tile), a structure by the tile holding the centre of
its bounding box. A gap is cut by the tile edges, so a piece of empty space
that touches an inner tile edge is kept aside and joined with its other
pieces once every tile is done (geometry_check.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy
import shapely

from ..store.crs import area_calculator
from .geometry_findings import (
    DUPLICATE,
    GAP,
    OVERLAP,
    STRUCTURE_OUTSIDE,
    GeometryFinding,
    listed,
    square_metres,
)
from .geometry_scan import PackedUnits
from .geometry_units import MapUnits

#: overlaps shallower than this (metres) are not looked for: digitising noise
OVERLAP_DEPTH_M = 0.001


@dataclass(frozen=True)
class TileGrid:
    """Strips along x (``x_cuts``), each cut along y (``y_cuts[strip]``)."""

    x_cuts: numpy.ndarray
    y_cuts: tuple[numpy.ndarray, ...]
    extent: tuple[float, float, float, float]

    @property
    def count(self) -> int:
        return sum(len(c) - 1 for c in self.y_cuts)

    def rects(self) -> list[tuple[float, float, float, float]]:
        return [(self.x_cuts[s], cuts[c], self.x_cuts[s + 1], cuts[c + 1])
                for s, cuts in enumerate(self.y_cuts) for c in range(len(cuts) - 1)]

    def tile_of(self, x: numpy.ndarray, y: numpy.ndarray) -> numpy.ndarray:
        """The tile of each point: half-open [x0, x1) x [y0, y1), so exactly one."""
        x, y = numpy.asarray(x, dtype=float), numpy.asarray(y, dtype=float)
        strips = numpy.clip(numpy.searchsorted(self.x_cuts[1:-1], x, side="right"), 0,
                            len(self.y_cuts) - 1)
        tiles = numpy.zeros(len(x), dtype=numpy.int64)
        first = 0
        for strip, cuts in enumerate(self.y_cuts):
            here = strips == strip
            cells = numpy.clip(numpy.searchsorted(cuts[1:-1], y[here], side="right"), 0,
                               len(cuts) - 2)
            tiles[here] = first + cells
            first += len(cuts) - 1
        return tiles


def plan_tiles(centres: numpy.ndarray, extent: tuple[float, float, float, float],
               per_tile: int) -> TileGrid:
    """Tiles of about ``per_tile`` centres each, covering ``extent``."""
    count = max(1, -(-len(centres) // max(per_tile, 1)))
    strips = max(1, int(round(count ** 0.5)))
    cells = max(1, -(-count // strips))
    x0, y0, x1, y1 = extent
    if len(centres) == 0:
        return TileGrid(numpy.array([x0, x1]), (numpy.array([y0, y1]),), extent)
    inner_x = numpy.quantile(centres[:, 0], numpy.arange(1, strips) / strips)
    x_cuts = numpy.concatenate([[x0], inner_x, [x1]])
    strip_of = numpy.clip(numpy.searchsorted(inner_x, centres[:, 0], side="right"), 0,
                          strips - 1)
    y_cuts = []
    for strip in range(strips):
        ys = centres[strip_of == strip, 1]
        inner_y = numpy.quantile(ys, numpy.arange(1, cells) / cells) if len(ys) else []
        y_cuts.append(numpy.concatenate([[y0], inner_y, [y1]]))
    return TileGrid(x_cuts, tuple(y_cuts), extent)


@dataclass
class TileContext:
    """What every tile reads: the packed units, the grid and the tolerances."""

    parcels: PackedUnits
    structures: PackedUnits
    structure_tiles: numpy.ndarray
    grid: TileGrid
    region: Any  #: the settlement boundaries checked for gaps (prepared), or None
    units: MapUnits
    srid: int
    overlap_tolerance_m2: float
    gap_tolerance_m2: float
    min_gap_m2: float
    structure_tolerance_m: float

    @property
    def depth(self) -> float:
        return self.units.length(OVERLAP_DEPTH_M)

    def members(self, rect: tuple[float, float, float, float]) -> numpy.ndarray:
        """Parcels whose bounding box reaches the rectangle (widened by the tolerances)."""
        margin = self.units.length(self.structure_tolerance_m) + 2 * self.depth
        b = self.parcels.bounds
        return numpy.flatnonzero((b[:, 0] <= rect[2] + margin) & (b[:, 2] >= rect[0] - margin)
                                 & (b[:, 1] <= rect[3] + margin) & (b[:, 3] >= rect[1] - margin))


def polygonal(geometry: Any) -> Any:
    """The polygonal part of an overlay result (it may carry lines and points)."""
    if geometry is None or geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon",
                                                                      "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def sharing_an_edge(shapes: numpy.ndarray, piece: Any, depth: float) -> numpy.ndarray:
    """Which shapes share a stretch of boundary with ``piece`` (not just a corner)."""
    if not len(shapes):
        return numpy.zeros(0, dtype=bool)
    near = shapely.buffer(piece, depth)
    return shapely.area(shapely.intersection(shapes, near)) > 4 * depth * depth


def overlaps(ctx: TileContext, tile: int, members: numpy.ndarray,
             geometries: numpy.ndarray) -> list[GeometryFinding]:
    """Pairs of valid parcels whose insides meet: overlaps above the tolerance, duplicates."""
    keep = ctx.parcels.valid[members]
    index, shapes = members[keep], geometries[keep]
    if len(index) < 2:
        return []
    shrunk = shapely.buffer(shapes, -ctx.depth, join_style="mitre")
    asked, hit = shapely.STRtree(shapes).query(shrunk, predicate="intersects")
    other = asked != hit
    if not other.any():
        return []
    pairs = numpy.unique(numpy.sort(numpy.column_stack([asked[other], hit[other]]), axis=1),
                         axis=0)
    first, second = index[pairs[:, 0]], index[pairs[:, 1]]
    bounds = ctx.parcels.bounds
    owner = ctx.grid.tile_of(numpy.maximum(bounds[first, 0], bounds[second, 0]),
                             numpy.maximum(bounds[first, 1], bounds[second, 1]))
    pairs = pairs[owner == tile]
    if not len(pairs):
        return []
    a, b = shapes[pairs[:, 0]], shapes[pairs[:, 1]]
    common = shapely.intersection(a, b)
    rough = ctx.units.area_m2(shapely.area(common))
    big = rough >= 0.5 * ctx.overlap_tolerance_m2
    findings = []
    areas = area_calculator(ctx.srid)
    pairs, a, b, common = pairs[big], a[big], b[big], common[big]
    common = numpy.array([polygonal(c) for c in common], dtype=object)
    for (i, j), ga, gb, shared, shared_m2, a_m2, b_m2 in zip(
            pairs, a, b, common, areas.areas_m2(common), areas.areas_m2(a), areas.areas_m2(b)):
        if ctx.parcels.codes[index[j]] < ctx.parcels.codes[index[i]]:
            i, j, ga = j, i, gb
        codes = (ctx.parcels.code(index[i]), ctx.parcels.code(index[j]))
        ids = (ctx.parcels.id(index[i]), ctx.parcels.id(index[j]))
        apart = max(a_m2 + b_m2 - 2 * shared_m2, 0.0)
        if apart <= ctx.overlap_tolerance_m2:
            text = (f"Parcels {listed(codes)} have the same boundary (they differ by "
                    f"{square_metres(apart)}): one of them is probably entered twice.")
            findings.append(GeometryFinding(DUPLICATE, "spatial_unit", ids, codes, text,
                                            shapely.point_on_surface(ga), ga, round(a_m2, 2)))
        elif shared_m2 > ctx.overlap_tolerance_m2:
            text = (f"Parcels {listed(codes)} overlap by {square_metres(shared_m2)} "
                    f"({100 * shared_m2 / max(min(a_m2, b_m2), 1e-9):.1f}% of the smaller).")
            findings.append(GeometryFinding(OVERLAP, "spatial_unit", ids, codes, text,
                                            shapely.point_on_surface(shared), shared,
                                            round(shared_m2, 2)))
    return findings


def gap_pieces(ctx: TileContext, rect: tuple[float, float, float, float],
               geometries: numpy.ndarray) -> tuple[list[Any], list[Any]]:
    """Empty space inside the boundaries within the tile: (whole pieces, cut pieces)."""
    if ctx.region is None:
        return [], []
    area = shapely.intersection(ctx.region, shapely.box(*rect))
    if area.is_empty:
        return [], []
    present = geometries[numpy.array([g is not None for g in geometries], dtype=bool)]
    empty = shapely.difference(area, shapely.union_all(present)) if len(present) else area
    pieces = [p for p in shapely.get_parts(polygonal(empty)) if not p.is_empty]
    if not pieces:
        return [], []
    near = ctx.depth
    outer = ctx.grid.extent
    bounds = shapely.bounds(numpy.array(pieces, dtype=object))
    cut = numpy.zeros(len(pieces), dtype=bool)
    for side, (edge, limit) in enumerate(zip(rect, outer)):
        if edge == limit:
            continue  # the outer edge of the whole grid cuts nothing
        cut |= numpy.abs(bounds[:, side] - edge) <= near
    whole = [p for p, c in zip(pieces, cut) if not c]
    return whole, [p for p, c in zip(pieces, cut) if c]


def gap_findings(ctx: TileContext, pieces: list[Any],
                 neighbours: Any) -> list[GeometryFinding]:
    """The pieces small enough to be gaps; ``neighbours(piece)`` gives parcel indices."""
    if not pieces:
        return []
    shapes = numpy.array(pieces, dtype=object)
    rough = ctx.units.area_m2(shapely.area(shapes))
    maybe = (rough <= 2 * ctx.gap_tolerance_m2) & (rough >= 0.5 * ctx.min_gap_m2)
    shapes = shapes[maybe]
    findings = []
    for shape, area in zip(shapes, area_calculator(ctx.srid).areas_m2(shapes)):
        if not ctx.min_gap_m2 < area <= ctx.gap_tolerance_m2:
            continue
        around = sorted(neighbours(shape), key=lambda i: ctx.parcels.codes[i])
        codes = tuple(ctx.parcels.code(i) for i in around)
        ids = tuple(ctx.parcels.id(i) for i in around)
        if codes:
            text = (f"Gap of {square_metres(area)} between parcels {listed(codes)}: "
                    "no parcel covers it.")
        else:
            text = f"Empty space of {square_metres(area)} inside the settlement, away from " \
                   "any parcel."
        findings.append(GeometryFinding(GAP, "spatial_unit", ids, codes, text,
                                        shapely.point_on_surface(shape), shape, round(area, 2)))
    return findings


def structures(ctx: TileContext, tile: int, tree: shapely.STRtree,
               index: numpy.ndarray) -> list[GeometryFinding]:
    """Structures of this tile that stand in no parcel, beyond the tolerance."""
    own = numpy.flatnonzero(ctx.structure_tiles == tile)
    if not len(own):
        return []
    shapes = ctx.structures.usable(own)
    present = numpy.array([s is not None for s in shapes], dtype=bool)
    own, shapes = own[present], shapes[present]
    inside = numpy.zeros(len(own), dtype=bool)
    inside[tree.query(shapes, predicate="covered_by")[0]] = True
    tolerance = ctx.units.length(ctx.structure_tolerance_m)
    points = ctx.structures.is_point[own]
    rest = numpy.flatnonzero(~inside & ~points)
    if len(rest):
        shrunk = shapely.buffer(shapes[rest], -tolerance, join_style="mitre")
        small = shapely.is_empty(shrunk)
        shrunk[small] = shapely.point_on_surface(shapes[rest][small])
        inside[rest[tree.query(shrunk, predicate="covered_by")[0]]] = True
    rest = numpy.flatnonzero(~inside & points)
    if len(rest):
        inside[rest[tree.query_nearest(shapes[rest], max_distance=tolerance)[0]]] = True
    return [_structure_finding(ctx, own[k], shapes[k], tree, index)
            for k in numpy.flatnonzero(~inside)]


def _structure_finding(ctx: TileContext, unit: int, shape: Any, tree: shapely.STRtree,
                       index: numpy.ndarray) -> GeometryFinding:
    code, record_id = ctx.structures.code(unit), ctx.structures.id(unit)
    if ctx.structures.is_point[unit]:
        return GeometryFinding(STRUCTURE_OUTSIDE, "spatial_unit", (record_id,), (code,),
                               f"Structure {code} (GPS point only) is not inside any parcel.",
                               shape, shape)
    areas = area_calculator(ctx.srid)
    touched = tree.query(shape, predicate="intersects")
    whole = areas.area_m2(shape)
    if not len(touched):
        return GeometryFinding(
            STRUCTURE_OUTSIDE, "spatial_unit", (record_id,), (code,),
            f"Structure {code} ({square_metres(whole)} footprint) is outside every parcel.",
            shapely.point_on_surface(shape), shape, round(whole, 2))
    parcels = index[touched]
    codes = tuple(ctx.parcels.code(p) for p in parcels)
    ids = (record_id, *(ctx.parcels.id(p) for p in parcels))
    beyond = polygonal(shapely.difference(shape, shapely.union_all(tree.geometries[touched])))
    beyond_m2 = areas.area_m2(beyond) if not beyond.is_empty else 0.0
    if beyond_m2 > 0.01:
        text = (f"{square_metres(beyond_m2)} of the {square_metres(whole)} footprint of "
                f"structure {code} lies outside every parcel (it reaches {listed(codes)}).")
        return GeometryFinding(STRUCTURE_OUTSIDE, "spatial_unit", ids, (code, *codes), text,
                               shapely.point_on_surface(beyond), beyond, round(beyond_m2, 2))
    text = (f"Structure {code} stands across parcels {listed(codes)}, inside none of them "
            "alone.")
    return GeometryFinding(STRUCTURE_OUTSIDE, "spatial_unit", ids, (code, *codes), text,
                           shapely.point_on_surface(shape), shape, round(whole, 2))
