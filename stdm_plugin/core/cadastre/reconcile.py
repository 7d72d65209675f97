"""The existing cadastre next to what was enumerated.

``reconcile`` compares the settlement's enumerated parcels with a cadastre
file and classifies every parcel on each side. It only reads: it writes
nothing to the store.
"""
from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ..store.crs import area_calculator
from ..store.errors import SpatialFileError
from ..store.model import SpatialUnit
from ..store.report_csv import write_report_csv
from .spatial_features import ERROR, WARNING, FeatureProblem, SpatialFeature
from .spatial_files import read_spatial_file
from .structures import overlap_pairs

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

ENUMERATED, CADASTRAL = "enumerated", "cadastral"
STATUSES = ("matched", "changed_boundary", "new", "missing", "conflict")
#: overlaps smaller than this share of both parcels are slivers, left out of the rows
SLIVER = 0.01
PARCEL_COLUMNS = ("side", "status", "parcel", "record_id", "fid", "area_m2", "partners",
                  "shares_of_this", "shares_of_partners", "symmetric_difference_m2", "group")


@dataclass
class Overlap:
    partner: str
    share_of_this: float
    share_of_partner: float


@dataclass
class ReconciledParcel:
    side: str
    status: str
    #: the parcel code (enumerated) or the cadastre's id for it
    parcel: str
    record_id: Optional[str]
    fid: Optional[str]
    area_m2: float
    geometry_wkb: bytes
    overlaps: list[Overlap] = field(default_factory=list)
    #: for a one-to-one pair: the area in one parcel but not the other
    symmetric_difference_m2: Optional[float] = None
    #: parcels in conflict together share a group number
    group: Optional[int] = None

    def row(self) -> dict[str, Any]:
        """One attribute row for a QGIS memory layer or the CSV, with the WKB geometry."""
        return {"side": self.side, "status": self.status, "parcel": self.parcel,
                "record_id": self.record_id, "fid": self.fid, "area_m2": round(self.area_m2, 2),
                "partners": "; ".join(o.partner for o in self.overlaps),
                "shares_of_this": "; ".join(f"{o.share_of_this:.3f}" for o in self.overlaps),
                "shares_of_partners": "; ".join(f"{o.share_of_partner:.3f}"
                                                for o in self.overlaps),
                "symmetric_difference_m2": None if self.symmetric_difference_m2 is None
                else round(self.symmetric_difference_m2, 2),
                "group": self.group, "geometry_wkb": self.geometry_wkb}


@dataclass
class Reconciliation:
    file: str
    layer: Optional[str]
    settlement_id: Optional[str]
    min_overlap: float
    boundary_tolerance_m2: float
    source_crs: str = ""
    parcels: list[ReconciledParcel] = field(default_factory=list)
    #: cadastral features that could not be compared, or were repaired to be
    problems: list[FeatureProblem] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, side: str, status: str | None = None) -> list[ReconciledParcel]:
        return [p for p in self.parcels if p.side == side and status in (None, p.status)]

    def counts(self) -> dict[str, dict[str, int]]:
        found = Counter((p.side, p.status) for p in self.parcels)
        return {side: {s: found[(side, s)] for s in STATUSES} for side in (ENUMERATED, CADASTRAL)}

    def rows(self) -> list[dict[str, Any]]:
        return [p.row() for p in self.parcels]

    def summary(self) -> str:
        lines = [f"{side.capitalize()} parcels: " + (", ".join(
            f"{n} {status.replace('_', ' ')}" for status, n in counts.items() if n) or "none")
            + "." for side, counts in self.counts().items()]
        unusable = len({p.index for p in self.problems if p.severity == ERROR})
        if unusable:
            lines.append(f"{unusable} cadastral feature(s) could not be compared; see the "
                         "problems.")
        lines.append("Nothing was written to the store.")
        return "\n".join(lines)

    def write_csv(self, path: str, *, with_geometry: bool = True) -> None:
        """One line per parcel; with a WKT column QGIS can open as a layer."""
        from shapely import wkb

        def rows():
            for parcel in self.parcels:
                row = parcel.row()
                values = [row[c] for c in PARCEL_COLUMNS]
                if with_geometry:
                    values.append(wkb.loads(parcel.geometry_wkb).wkt)
                yield values

        write_report_csv(path, [*PARCEL_COLUMNS, *(("wkt",) if with_geometry else ())], rows())


def reconcile(store: "SettlementStore", path: str | os.PathLike,
              settlement_id: str | None = None, *, layer: str | None = None,
              id_field: str | None = None, source_crs: str | int | None = None,
              min_overlap: float = 0.5, boundary_tolerance_m2: float = 5.0,
              encoding: str | None = None) -> Reconciliation:
    """Classify each enumerated parcel and each cadastral parcel; writes nothing.

    Two parcels are linked when their overlap is at least ``min_overlap`` of
    either of them. Linked parcels form groups: an enumerated parcel alone is
    ``new``, a cadastral one alone ``missing``, a pair of one of each
    ``matched`` (symmetric difference at most ``boundary_tolerance_m2``) or
    ``changed_boundary``, and any larger group is a ``conflict`` (one
    enumerated parcel across several cadastral ones, or the reverse). A
    parcel with no link but covered at least ``min_overlap`` by several
    parcels of the other side together is a conflict too. A file that cannot
    be read raises SpatialFileError: an empty comparison would call every
    parcel new.
    """
    import numpy
    import shapely

    started = time.perf_counter()
    source = read_spatial_file(path, store.srid, layer=layer, source_crs=source_crs,
                               encoding=encoding)
    result = Reconciliation(source.path, source.layer, settlement_id, min_overlap,
                            boundary_tolerance_m2, source.source_crs)
    cadastral, labels = _comparable(source, id_field, result)
    enumerated = _enumerated(store, settlement_id, result)
    shapes = {ENUMERATED: numpy.array([p.boundary for p in enumerated], dtype=object),
              CADASTRAL: numpy.array([g for _f, g in cadastral], dtype=object)}
    names = {ENUMERATED: [p.code or p.id for p in enumerated], CADASTRAL: labels}
    i, j, areas = overlap_pairs(shapes[ENUMERATED], shapes[CADASTRAL])
    own = {side: shapely.area(shapes[side]) for side in shapes}
    pairs = list(zip(i.tolist(), j.tolist(), (areas / own[ENUMERATED][i]).tolist(),
                     (areas / own[CADASTRAL][j]).tolist()))
    status, group = _classify(len(enumerated), len(cadastral), pairs, min_overlap)
    difference = _compare_boundaries(store.srid, shapes, pairs, status, min_overlap,
                                     boundary_tolerance_m2)
    overlaps: dict[tuple[str, int], list[Overlap]] = defaultdict(list)
    for a, b, se, sc in pairs:
        if max(se, sc) >= SLIVER:
            overlaps[(ENUMERATED, a)].append(Overlap(names[CADASTRAL][b], se, sc))
            overlaps[(CADASTRAL, b)].append(Overlap(names[ENUMERATED][a], sc, se))
    areas_m2 = {ENUMERATED: [p.area_m2 or 0.0 for p in enumerated],
                CADASTRAL: area_calculator(store.srid).areas_m2(shapes[CADASTRAL])}
    for side, records in ((ENUMERATED, enumerated), (CADASTRAL, [f for f, _g in cadastral])):
        for k, record in enumerate(records):
            key = (side, k)
            result.parcels.append(ReconciledParcel(
                side, status[key], names[side][k], record.id if side == ENUMERATED else None,
                None if side == ENUMERATED else record.fid, float(areas_m2[side][k]),
                shapes[side][k].wkb, sorted(overlaps[key], key=lambda o: -o.share_of_this),
                difference.get(key), group.get(key)))
    result.seconds = time.perf_counter() - started
    return result


def _enumerated(store: "SettlementStore", settlement_id: str | None,
                result: Reconciliation) -> list[SpatialUnit]:
    """The current parcels; one made invalid outside the plugin is compared repaired."""
    import shapely

    where = "kind = 'parcel' AND boundary IS NOT NULL" + (
        " AND settlement_id = ?" if settlement_id else "")
    parcels = store.spatial_units.find(where, (settlement_id,) if settlement_id else (),
                                       order_by="code")
    for parcel in parcels:
        if not parcel.boundary.is_valid:
            parcel.boundary = shapely.make_valid(parcel.boundary)
            result.problems.append(FeatureProblem(
                store.db.location, "spatial_unit", parcel.code, None, "boundary",
                "invalid_geometry", f"the enumerated parcel {parcel.code}'s boundary is not "
                "valid; repaired (make_valid) for this comparison only.", severity=WARNING))
    return parcels  # type: ignore[return-value]


def _compare_boundaries(srid: int, shapes: dict[str, Any], pairs: list, status: dict,
                        min_overlap: float, tolerance_m2: float) -> dict[tuple[str, int], float]:
    """One-to-one pairs become matched or changed_boundary by their symmetric difference."""
    import numpy
    import shapely

    one_to_one = [(a, b) for a, b, se, sc in pairs if max(se, sc) >= min_overlap
                  and status[(ENUMERATED, a)] == status[(CADASTRAL, b)] == "pair"]
    mine = numpy.array([a for a, _b in one_to_one], dtype=int)
    theirs = numpy.array([b for _a, b in one_to_one], dtype=int)
    differences = area_calculator(srid).areas_m2(shapely.symmetric_difference(
        shapes[ENUMERATED][mine], shapes[CADASTRAL][theirs]))
    difference = {}
    for (a, b), value in zip(one_to_one, differences):
        difference[(ENUMERATED, a)] = difference[(CADASTRAL, b)] = value
        kind = "matched" if value <= tolerance_m2 else "changed_boundary"
        status[(ENUMERATED, a)] = status[(CADASTRAL, b)] = kind
    return difference


def _comparable(source: Any, id_field: str | None,
                result: Reconciliation) -> tuple[list[tuple[SpatialFeature, Any]], list[str]]:
    """Cadastral features that can be compared (invalid ones repaired), and their labels."""
    import shapely

    if id_field is not None and source.features and id_field not in source.features[0].attributes:
        raise SpatialFileError(
            f"{source.path} has no field {id_field!r} for the parcel ids; its fields are: "
            f"{', '.join(source.features[0].attributes)}.", path=source.path,
            kind="missing_field", layer=source.layer)
    usable, labels = [], []
    for feature in source.features:
        kinds = {p.kind for p in feature.problems if p.severity == ERROR}
        if kinds == {"invalid_geometry"} and feature.geometry is not None:
            repaired = shapely.make_valid(feature.geometry)
            repaired = shapely.union_all([g for g in getattr(repaired, "geoms", [repaired])
                                          if g.geom_type in ("Polygon", "MultiPolygon")])
            feature.problems = [FeatureProblem(
                p.file, p.layer, p.fid, p.index, p.field, p.kind,
                p.reason + " Repaired (make_valid) for this comparison only.", p.value,
                WARNING) for p in feature.problems]
            if repaired.is_empty:
                continue
            feature.geometry = repaired
        if not feature.ok:
            continue
        label = feature.attributes.get(id_field) if id_field else None
        usable.append((feature, feature.geometry))
        labels.append(f"fid {feature.fid}" if label in (None, "") else str(label))
    for label, n in Counter(labels).items():
        if n > 1 and id_field:
            result.problems.append(FeatureProblem(source.path, source.layer, None, None,
                                                  id_field, "duplicate_id", f"{n} parcels have "
                                                  f"the id {label!r}.", label, WARNING))
    result.problems.extend(source.problems)
    return usable, labels


def _classify(n_enumerated: int, n_cadastral: int, pairs: list[tuple[int, int, float, float]],
              min_overlap: float) -> tuple[dict, dict]:
    """Status per (side, index) by the groups of linked parcels; "pair" for one-to-one."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        while parent.get(node, node) != node:
            parent[node] = parent.get(parent[node], parent[node])
            node = parent[node]
        return node

    covered: dict[tuple[str, int], list[float]] = defaultdict(list)
    for a, b, se, sc in pairs:
        covered[(ENUMERATED, a)].append(se)
        covered[(CADASTRAL, b)].append(sc)
        if max(se, sc) >= min_overlap:
            parent[root((ENUMERATED, a))] = root((CADASTRAL, b))
    nodes = [(ENUMERATED, a) for a in range(n_enumerated)] + [(CADASTRAL, b)
                                                              for b in range(n_cadastral)]
    members: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
    for node in nodes:
        members[root(node)].append(node)
    status: dict[tuple[str, int], str] = {}
    group: dict[tuple[str, int], int] = {}
    for nodes_of in sorted(members.values()):
        sides = Counter(side for side, _k in nodes_of)
        node = nodes_of[0]
        if len(nodes_of) == 1 and not (len(covered[node]) > 1
                                       and sum(covered[node]) >= min_overlap):
            status[node] = "new" if node[0] == ENUMERATED else "missing"
        elif sides[ENUMERATED] == sides[CADASTRAL] == 1:
            status.update({n: "pair" for n in nodes_of})
        else:  # several on one side, or one spread over several without a link
            number = 1 + len(set(group.values()))
            for n in nodes_of:
                status[n], group[n] = "conflict", number
    return status, group
