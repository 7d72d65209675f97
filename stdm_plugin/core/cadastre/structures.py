"""Building footprints taken in as structures of a settlement.

``import_structures`` takes footprints (a Shapefile, GeoPackage layer or
GeoJSON in any CRS) as structures of a settlement, through the spatial unit
repository, so codes, areas and the audit log are as for any structure. It
never raises for a bad file: the report lists every feature not taken, with
file, feature and reason. ``all_or_nothing`` writes nothing if any feature
has a problem; ``valid_only`` writes the others; either way the write is one
transaction, never half-applied.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ..store.errors import SpatialFileError, StdmError, ValidationError
from ..store.model import SpatialUnit
from ..store.report_csv import write_report_csv
from .spatial_features import ERROR, WARNING, FeatureProblem, SpatialFeature
from .spatial_files import read_spatial_file

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

ALL_OR_NOTHING, VALID_ONLY = "all_or_nothing", "valid_only"
MODES = (ALL_OR_NOTHING, VALID_ONLY)
PROBLEM_COLUMNS = ("file", "layer", "fid", "index", "field", "kind", "severity", "value",
                   "reason")


def write_problems_csv(path: str, problems: Iterable[FeatureProblem]) -> None:
    """Problems as a CSV a spreadsheet opens (UTF-8 with a byte-order mark)."""
    write_report_csv(path, PROBLEM_COLUMNS,
                     ([getattr(p, c) for c in PROBLEM_COLUMNS] for p in problems))


# --- structures -------------------------------------------------------------------------
@dataclass
class StructureImportReport:
    file: str
    layer: Optional[str]
    mode: str
    written: bool = False
    source_crs: str = ""
    features_read: int = 0
    imported: int = 0
    #: features with a problem (error), not imported
    rejected: int = 0
    #: fine, but not written because others were rejected (all_or_nothing)
    held_back: int = 0
    linked_to_parcels: int = 0
    structure_ids: list[str] = field(default_factory=list)
    problems: list[FeatureProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors()

    def errors(self) -> list[FeatureProblem]:
        return [p for p in self.problems if p.severity == ERROR]

    def warnings(self) -> list[FeatureProblem]:
        return [p for p in self.problems if p.severity == WARNING]

    def rejected_fids(self) -> set[str]:
        return {p.fid for p in self.errors() if p.fid is not None}

    def summary(self) -> str:
        name = os.path.basename(self.file)
        lines = [f"{name}: {self.features_read} feature(s) read; {self.imported} imported as "
                 f"structures ({self.linked_to_parcels} on a parcel), {self.rejected} rejected."]
        if self.held_back:
            lines.append(f"Nothing was written: {self.rejected} feature(s) have problems, so "
                         f"the {self.held_back} others were held back too (all or nothing). "
                         "Fix the features listed, or import the valid ones only.")
        if self.problems:
            lines.append(f"{len(self.errors())} problem(s), {len(self.warnings())} warning(s); "
                         "see the report.")
        return "\n".join(lines)

    def write_csv(self, path: str) -> None:
        write_problems_csv(path, self.problems)


def import_structures(store: "SettlementStore", path: str | os.PathLike, settlement_id: str, *,
                      layer: str | None = None, source_crs: str | int | None = None,
                      mode: str = ALL_OR_NOTHING,
                      encoding: str | None = None) -> StructureImportReport:
    """Footprints of a file as structures of the settlement; see the module docstring.

    A structure is put on the settlement's parcel that holds more than half
    of its footprint, when there is one.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    store.settlements.get(settlement_id)  # a wrong id is the caller's error, not the file's
    started = time.perf_counter()
    path = os.fspath(path)
    report = StructureImportReport(path, layer, mode)
    try:
        source = read_spatial_file(path, store.srid, layer=layer, source_crs=source_crs,
                                   encoding=encoding)
    except SpatialFileError as exc:
        report.problems.append(FeatureProblem(path, exc.layer or layer, None, None, None,
                                              exc.kind, str(exc)))
        report.seconds = time.perf_counter() - started
        return report
    report.layer, report.source_crs = source.layer, source.source_crs
    report.features_read = len(source.features)
    records = [(f, _structure(f, settlement_id, source.path, source.layer))
               for f in source.usable()]
    records = [(f, r) for f, r in records if _store_accepts(store, f, r, source.path,
                                                            source.layer)]
    report.problems.extend(source.problems)
    report.rejected = len({f.index for f in source.features if not f.ok})
    if mode == ALL_OR_NOTHING and report.rejected:
        report.held_back = len(records)
    elif records:
        structures = [r for _f, r in records]
        report.linked_to_parcels = _put_on_parcels(store, settlement_id, structures)
        try:
            store.spatial_units.add_many(structures)
        except StdmError as exc:
            report.problems.append(FeatureProblem(path, source.layer, None, None, None,
                                                  "invalid_record", "nothing was written: the "
                                                  f"store refused the structures: {exc}"))
            report.held_back, report.linked_to_parcels = len(records), 0
        else:
            report.written, report.imported = True, len(structures)
            report.structure_ids = [r.id for r in structures if r.id]
    report.seconds = time.perf_counter() - started
    return report


def _structure(feature: SpatialFeature, settlement_id: str, path: str,
               layer: str | None) -> SpatialUnit:
    where = os.path.basename(path) + (f", layer {layer}" if layer else "")
    attributes = {k: v for k, v in feature.attributes.items() if v not in (None, "")}
    answers = {"source": {"file": os.path.basename(path), "layer": layer, "fid": feature.fid},
               "attributes": attributes}
    return SpatialUnit(kind="structure", settlement_id=settlement_id, boundary=feature.geometry,
                       remarks=f"Imported from {where}, fid {feature.fid}",
                       answers=json.dumps(answers, ensure_ascii=False, default=str))


def _store_accepts(store: "SettlementStore", feature: SpatialFeature, record: SpatialUnit,
                   path: str, layer: str | None) -> bool:
    try:
        store.spatial_units.validate(record)
    except ValidationError as exc:
        feature.problems.append(FeatureProblem(path, layer, feature.fid, feature.index,
                                               exc.field, "invalid_record", str(exc)))
        return False
    return True


def overlap_pairs(left: Any, right: Any) -> tuple[Any, Any, Any]:
    """Index pairs (i into left, j into right) that overlap, and the overlap's area."""
    import numpy
    import shapely

    if len(left) == 0 or len(right) == 0:
        return numpy.zeros(0, dtype=int), numpy.zeros(0, dtype=int), numpy.zeros(0)
    i, j = shapely.STRtree(right).query(left, predicate="intersects")
    inside = shapely.relate_pattern(left[i], right[j], "T********")  # not only touching
    i, j = i[inside], j[inside]
    areas = shapely.area(shapely.intersection(left[i], right[j]))
    keep = areas > 0
    return i[keep], j[keep], areas[keep]


def _put_on_parcels(store: "SettlementStore", settlement_id: str,
                    structures: list[SpatialUnit]) -> int:
    import numpy

    parcels = store.spatial_units.find("kind = 'parcel' AND settlement_id = ? AND boundary IS "
                                       "NOT NULL", (settlement_id,))
    footprints = numpy.array([s.boundary for s in structures], dtype=object)
    i, j, areas = overlap_pairs(footprints, numpy.array([p.boundary for p in parcels],
                                                         dtype=object))
    best: dict[int, tuple[float, int]] = {}
    for a, b, area in zip(i, j, areas):
        if area > best.get(int(a), (0.0, -1))[0]:
            best[int(a)] = (float(area), int(b))
    for a, (area, b) in best.items():
        if area > 0.5 * structures[a].boundary.area:
            structures[a].parcel_id = parcels[b].id
    return sum(1 for s in structures if s.parcel_id)
