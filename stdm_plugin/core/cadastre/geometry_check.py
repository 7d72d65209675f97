"""Check geometry: what a settlement's map holds that a cadastre should not.

Issue #6, point 1. The check reads the current parcels and structures of
one settlement (or of the whole store) and reports:

- invalid geometries (GEOS's reason, at the place it names);
- overlaps: two parcels whose insides share more than
  ``overlap_tolerance_m2`` (the overlap polygon is reported);
- duplicates: two parcels whose boundaries differ by no more than
  ``overlap_tolerance_m2`` (their symmetric difference), the same parcel
  entered twice;
- gaps: a piece of the settlement boundary that no parcel covers, larger
  than ``min_gap_m2`` and no larger than ``gap_tolerance_m2``. Bigger empty
  pieces are roads, squares, water or land not mapped yet and are not
  reported; a settlement without a boundary has no gaps looked for (a note
  says so). A piece counts whole, however far it reaches, so a long sliver
  between two rows of parcels is one gap;
- parcels outside their settlement boundary, entirely or by more than
  ``overlap_tolerance_m2``;
- structures whose footprint lies in no single parcel, allowing the
  footprint to cross the parcel line by ``structure_tolerance_m``, or whose
  GPS point is farther than that from every parcel.

Invalid parcels are left out of the overlap and duplicate checks (their
repaired shape stands in for the gap and structure checks). Areas are
measured on the ellipsoid, like the store's ``area_m2``. The check only
reads, through the Backend interface, so it runs alike on SpatiaLite and
PostGIS; it reads the store once in pages and then works tile by tile
(geometry_scan.py, geometry_tiles.py), in bounded memory.

``progress(done, total, stage)`` is called as it goes (``done`` never goes
back; ``stage`` is one of STAGES) and ``is_cancelled()`` is asked between
pages and tiles: when it returns True the check stops with
CheckCancelledError. Both may be called from a worker thread (QgsTask).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy
import shapely

from ..store.errors import ValidationError
from . import geometry_tiles as tiles
from .geometry_findings import CheckCancelledError, GeometryFinding, GeometryReport
from .geometry_scan import (
    PackedBuilder,
    ScopeSettlement,
    count_units,
    read_settlements,
    scan_page,
    unit_pages,
)
from .geometry_units import map_units_for_bounds

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

Progress = Callable[[int, int, str], None]
READING_PARCELS = "reading parcels"
READING_STRUCTURES = "reading structures"
NEIGHBOURS = "checking neighbours"
JOINING_GAPS = "joining gaps across tiles"
STAGES = (READING_PARCELS, READING_STRUCTURES, NEIGHBOURS, JOINING_GAPS)
PAGE_SIZE = 20_000
TILE_SIZE = 50_000
#: tile edges cut gaps; their pieces are joined on a grid this fine (metres)
JOIN_GRID_M = 1e-5


class _Pace:
    """Progress and cancellation, in one place."""

    def __init__(self, total: int, progress: Progress | None,
                 is_cancelled: Callable[[], bool] | None) -> None:
        self.done, self.total = 0, max(total, 1)
        self._progress, self._cancelled = progress, is_cancelled

    def step(self, amount: int, stage: str) -> None:
        self.check()
        self.done = min(self.done + amount, self.total)
        if self._progress is not None:
            self._progress(self.done, self.total, stage)

    def finish(self) -> None:
        if self.done < self.total and self._progress is not None:
            self.done = self.total
            self._progress(self.done, self.total, JOINING_GAPS)

    def check(self) -> None:
        if self._cancelled is not None and self._cancelled():
            raise CheckCancelledError("The geometry check was cancelled; nothing was changed.")


def check_geometry(store: "SettlementStore", settlement_id: str | None = None, *,
                   overlap_tolerance_m2: float = 0.5, gap_tolerance_m2: float = 25.0,
                   min_gap_m2: float = 0.0001, structure_tolerance_m: float = 0.25,
                   progress: Progress | None = None,
                   is_cancelled: Callable[[], bool] | None = None,
                   page_size: int = PAGE_SIZE, tile_size: int = TILE_SIZE) -> GeometryReport:
    """Check the geometries of one settlement, or of every settlement when None."""
    _check_settings(overlap_tolerance_m2=overlap_tolerance_m2, gap_tolerance_m2=gap_tolerance_m2,
                    min_gap_m2=min_gap_m2, structure_tolerance_m=structure_tolerance_m,
                    page_size=page_size, tile_size=tile_size)
    if min_gap_m2 > gap_tolerance_m2:
        raise ValidationError(f"min_gap_m2 ({min_gap_m2:g}) is larger than gap_tolerance_m2 "
                              f"({gap_tolerance_m2:g}): no gap could be reported",
                              field="min_gap_m2", value=min_gap_m2)
    findings: list[GeometryFinding] = []
    settlements = read_settlements(store, settlement_id, findings)
    report = GeometryReport(store.db.location,
                            settlements[0].code if settlement_id else None,
                            tolerances={"overlap_tolerance_m2": overlap_tolerance_m2,
                                        "gap_tolerance_m2": gap_tolerance_m2,
                                        "min_gap_m2": min_gap_m2,
                                        "structure_tolerance_m": structure_tolerance_m})
    n_parcels = count_units(store, "parcel", settlement_id)
    n_structures = count_units(store, "structure", settlement_id)
    pace = _Pace(2 * n_parcels + n_structures + 1, progress, is_cancelled)
    pace.check()
    by_id = {s.id: s for s in settlements}
    packed = {}
    for kind, stage in (("parcel", READING_PARCELS), ("structure", READING_STRUCTURES)):
        builder = PackedBuilder()
        for rows in unit_pages(store, kind, settlement_id, page_size):
            scan_page(rows, kind, by_id, store.srid, overlap_tolerance_m2, builder, findings)
            pace.step(len(rows), stage)
        packed[kind] = builder.build()
    report.parcels_checked = len(packed["parcel"])
    report.structures_checked = len(packed["structure"])
    region = _gap_region(settlements, report.notes)
    findings += _neighbour_checks(store.srid, packed["parcel"], packed["structure"], region,
                                  pace, tile_size, overlap_tolerance_m2, gap_tolerance_m2,
                                  min_gap_m2, structure_tolerance_m)
    report.findings = sorted(findings, key=GeometryFinding.sort_key)
    pace.finish()
    return report


def _check_settings(**settings: float) -> None:
    for name, value in settings.items():
        least = 1 if name.endswith("_size") else 0
        if not isinstance(value, (int, float)) or not value >= least:
            raise ValidationError(f"{name} must be a number of {least} or more, not {value!r}",
                                  field=name, value=value)


def _gap_region(settlements: list[ScopeSettlement], notes: list[str]):
    """The boundaries gaps are looked for in; a settlement without one is noted."""
    bounded = [s.boundary for s in settlements if s.boundary is not None]
    for site in settlements:
        if site.boundary is None:
            notes.append(f"Settlement {site.code} has no boundary: its gaps and parcels "
                         "outside it were not looked for.")
    if not bounded:
        return None
    region = shapely.union_all(bounded) if len(bounded) > 1 else bounded[0]
    shapely.prepare(region)
    return region


def _extent(parcels, structures, region) -> tuple[float, float, float, float]:
    boxes = [parcels.bounds, structures.bounds]
    if region is not None:
        boxes.append(numpy.array([shapely.bounds(region)]))
    both = numpy.concatenate(boxes)
    x0, y0 = both[:, 0].min(), both[:, 1].min()
    x1, y1 = both[:, 2].max(), both[:, 3].max()
    margin = 0.01 * max(x1 - x0, y1 - y0) + 1.0
    return (x0 - margin, y0 - margin, x1 + margin, y1 + margin)


def _neighbour_checks(srid: int, parcels, structures, region, pace: _Pace, tile_size: int,
                      overlap_tolerance_m2: float, gap_tolerance_m2: float, min_gap_m2: float,
                      structure_tolerance_m: float) -> list[GeometryFinding]:
    if not len(parcels) and not len(structures):
        pace.step(1, JOINING_GAPS)
        return []
    extent = _extent(parcels, structures, region)
    centres = numpy.column_stack([(parcels.bounds[:, 0] + parcels.bounds[:, 2]) / 2,
                                  (parcels.bounds[:, 1] + parcels.bounds[:, 3]) / 2])
    grid = tiles.plan_tiles(centres, extent, tile_size)
    structure_tiles = grid.tile_of((structures.bounds[:, 0] + structures.bounds[:, 2]) / 2,
                                   (structures.bounds[:, 1] + structures.bounds[:, 3]) / 2)
    owned = numpy.bincount(grid.tile_of(centres[:, 0], centres[:, 1]),
                           minlength=grid.count) if len(centres) else numpy.zeros(grid.count)
    ctx = tiles.TileContext(parcels, structures, structure_tiles, grid, region,
                            map_units_for_bounds(srid, extent), srid, overlap_tolerance_m2,
                            gap_tolerance_m2, min_gap_m2, structure_tolerance_m)
    findings: list[GeometryFinding] = []
    cut_pieces: list = []
    for tile, rect in enumerate(grid.rects()):
        pace.check()
        members = ctx.members(rect)
        geometries = parcels.usable(members)
        findings += tiles.overlaps(ctx, tile, members, geometries)
        pace.check()
        present = numpy.array([g is not None for g in geometries], dtype=bool)
        index, shapes = members[present], geometries[present]
        tree = shapely.STRtree(shapes)
        whole, cut = tiles.gap_pieces(ctx, rect, shapes)
        findings += tiles.gap_findings(ctx, whole, _Touching(ctx, index, tree))
        cut_pieces += cut
        pace.check()
        findings += tiles.structures(ctx, tile, tree, index)
        pace.step(int(owned[tile]), NEIGHBOURS)
    findings += _joined_gaps(ctx, cut_pieces)
    pace.step(1, JOINING_GAPS)
    return findings


class _Touching:
    """The parcels of one tile that share an edge with a piece of empty space."""

    def __init__(self, ctx: tiles.TileContext, index: numpy.ndarray,
                 tree: shapely.STRtree) -> None:
        self.ctx, self.index, self.tree = ctx, index, tree

    def __call__(self, piece) -> numpy.ndarray:
        depth = self.ctx.depth
        near = self.tree.query(shapely.buffer(piece, depth), predicate="intersects")
        return self.index[near[tiles.sharing_an_edge(self.tree.geometries[near], piece,
                                                     depth)]]


def _joined_gaps(ctx: tiles.TileContext, pieces: list) -> list[GeometryFinding]:
    """Pieces of empty space cut by tile edges, joined again and judged whole."""
    if not pieces:
        return []
    joined = shapely.union_all(pieces, grid_size=ctx.units.length(JOIN_GRID_M))
    whole = [p for p in shapely.get_parts(tiles.polygonal(joined)) if not p.is_empty]

    def neighbours(piece) -> numpy.ndarray:
        near = shapely.buffer(piece, ctx.depth)
        x0, y0, x1, y1 = near.bounds
        b = ctx.parcels.bounds
        close = numpy.flatnonzero((b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1)
                                  & (b[:, 3] >= y0))
        shapes = ctx.parcels.usable(close)
        present = numpy.array([s is not None for s in shapes], dtype=bool)
        close, shapes = close[present], shapes[present]
        return close[tiles.sharing_an_edge(shapes, piece, ctx.depth)]

    return tiles.gap_findings(ctx, whole, neighbours)
