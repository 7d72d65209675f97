"""Check geometry in the background, and the memory layers that show what was found.

``StoreTask`` runs one core function on its own connection to a store in a
QGIS worker thread (a SQLite connection belongs to the thread that made it,
and the layers' connections in the main thread must stay free for the map),
with the task's progress bar and Cancel; its outcome comes back to the main
thread. ``GeometryCheckTask`` is the geometry check on it: ``check_geometry``
reports progress to the task bar and asks ``isCanceled`` between pages and
tiles, and ``finished()`` (main thread) shows the findings in the project.

The findings are shown as two memory layers in the store's group, styled by
kind (a choice, and why):

- "Geometry problems": one point per finding, where to look (every finding
  has such a place), with ``finding`` (its row in the report), ``kind``,
  ``records``, ``detail`` and ``area_m2``. One feature per finding keeps the
  dock's rows and the map's features one to one, and a 40 cm sliver of gap
  that no polygon would show at settlement scale still gets a marker.
- "Geometry problem areas": the shape of the findings that have one (the
  overlap, the gap, the part outside the settlement, the invalid boundary as
  drawn), same fields, half transparent under the points.

``result_layer`` makes such a categorised memory layer from rows with WKB;
``reconciliation_layer`` shows a cadastre reconciliation with it, one
polygon per parcel of either side, coloured by status. ``repair`` runs the core's safe
repairs, or previews one (applies it inside a transaction that is then
rolled back, so the preview is exactly what the core would write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import shapely
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFeature,
    QgsFillSymbol,
    QgsGeometry,
    QgsLayerTreeGroup,
    QgsMarkerSymbol,
    QgsProject,
    QgsRendererCategory,
    QgsTask,
    QgsVectorLayer,
)

from ...core.cadastre.geometry_check import check_geometry
from ...core.cadastre.geometry_findings import (
    DUPLICATE,
    GAP,
    INVALID,
    OUTSIDE_SETTLEMENT,
    OVERLAP,
    STRUCTURE_OUTSIDE,
    CheckCancelledError,
    GeometryReport,
)
from ...core.cadastre.geometry_fix import GeometryFix, fix_invalid, snap_to_neighbour
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ..i18n import tr
from ..project.project import store_groups
from ..store.sources import PostgresConnection, SpatiaLiteSource

PROBLEMS_LAYER = "Geometry problems"
AREAS_LAYER = "Geometry problem areas"
#: the custom property that marks the layers of one check, by store label
RESULT_PROPERTY = "stdm/check_result"
KIND_COLOURS = {INVALID: "#c0392b", OVERLAP: "#e67e22", DUPLICATE: "#8e44ad",
                GAP: "#2980b9", OUTSIDE_SETTLEMENT: "#16a085", STRUCTURE_OUTSIDE: "#b7950b"}
FINDING_FIELDS = (("finding", "integer"), ("kind", "string"), ("records", "string"),
                  ("detail", "string"), ("area_m2", "double"))
#: a reconciliation status's fill on the map, and a darker shade that reads as text on white
STATUS_COLOURS = {"matched": "#4caf50", "changed_boundary": "#f1c40f", "new": "#2e86de",
                  "missing": "#e67e22", "conflict": "#c0392b"}
STATUS_TEXT = {"matched": "#2e7d32", "changed_boundary": "#8a6d0a", "new": "#1f5f8b",
               "missing": "#a0521a", "conflict": "#a93226"}
RECONCILE_FIELDS = (("side", "string"), ("status", "string"), ("parcel", "string"),
                    ("record_id", "string"), ("fid", "string"), ("area_m2", "double"),
                    ("partners", "string"), ("difference_m2", "double"), ("group", "integer"))
#: the safe repair the core offers for each kind of finding
MAKE_VALID, SNAP = "make_valid", "snap"
REPAIRS = {INVALID: MAKE_VALID, OVERLAP: SNAP, GAP: SNAP}


def kind_names() -> dict[str, tuple[str, str]]:
    """(one, several) for each kind of finding; a function, so tr() runs at call time."""
    return {INVALID: (tr("invalid geometry"), tr("invalid geometries")),
            OVERLAP: (tr("overlap"), tr("overlaps")),
            DUPLICATE: (tr("duplicate parcel"), tr("duplicate parcels")),
            GAP: (tr("gap"), tr("gaps")),
            OUTSIDE_SETTLEMENT: (tr("parcel outside its settlement"),
                                 tr("parcels outside their settlement")),
            STRUCTURE_OUTSIDE: (tr("structure outside the parcels"),
                                tr("structures outside the parcels"))}


def status_names(legend: bool = False) -> dict[str, str]:
    """How each reconciliation status reads; the map's legend also says on which side."""
    return {"matched": tr("matched"), "changed_boundary": tr("changed boundary"),
            "new": tr("new (enumerated only)") if legend else tr("new"),
            "missing": tr("missing (cadastre only)") if legend else tr("missing"),
            "conflict": tr("conflict")}


def counted(kind: str, number: int) -> str:
    """'1 overlap', '3 overlaps'."""
    one, several = kind_names().get(kind, (kind, kind))
    return f"{number} {one if number == 1 else several}"


def summary_line(report: GeometryReport, store_label: str) -> str:
    """The message bar's line: '12 problems found in settlement KOU: 3 overlaps, …'."""
    scope = (tr("settlement {0}").format(report.settlement_code) if report.settlement_code
             else tr("the store {0}").format(store_label))
    checked = tr("{0} parcels and {1} structures checked").format(
        report.parcels_checked, report.structures_checked)
    if report.ok:
        return tr("No geometry problems found in {0} ({1}).").format(scope, checked)
    parts = ", ".join(counted(kind, n) for kind, n in report.counts().items())
    return tr("{0} problem(s) found in {1}: {2} ({3}).").format(
        len(report.findings), scope, parts, checked)


# --- running core work on its own connection -------------------------------------------------
def store_opener(source, actor: str, read_only: bool = False
                 ) -> Callable[[], SettlementStore]:
    """How a task connects, prepared in the main thread (QGIS's auth manager lives there)."""
    if isinstance(source, SpatiaLiteSource):
        path = source.path
        return lambda: SettlementStore.open(path, actor=actor, read_only=read_only)
    assert isinstance(source, PostgresConnection)
    params, schema = source.psycopg2_params(), source.schema
    return lambda: SettlementStore.open_postgis(params, schema, actor=actor)


class TaskCancelledError(Exception):
    """Raised from a progress callback when the user pressed Cancel."""


@dataclass
class TaskOutcome:
    """What a StoreTask hands back; plain values (QGIS deletes the task after finished())."""

    label: str
    result: Any = None
    cancelled: bool = False
    error: str = ""
    srid: int = 0
    layers: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None and not self.cancelled and not self.error


class StoreTask(QgsTask):
    """``work(store, task)`` in a worker thread; the outcome goes to ``done`` in the main one.

    ``work`` may call ``task.progress(done, total)`` (which raises when Cancel was
    pressed) and ``task.isCanceled()``.
    """

    def __init__(self, description: str, source, label: str, actor: str,
                 work: Callable[[SettlementStore, "StoreTask"], Any],
                 done: Callable[[TaskOutcome], None], read_only: bool = False) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self._open = store_opener(source, actor, read_only)  # may raise CredentialsError
        self.work, self.done = work, done
        self.outcome = TaskOutcome(label)

    def run(self) -> bool:
        try:
            with self._open() as store:
                self.outcome.srid = store.srid
                self.outcome.result = self.work(store, self)
            return True
        except (TaskCancelledError, CheckCancelledError):
            self.outcome.cancelled = True
        except StdmError as error:
            self.outcome.error = str(error)
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            self.outcome.error = f"{type(error).__name__}: {error}"
        return False

    def progress(self, done: int, total: int, *_stage: Any) -> None:
        if self.isCanceled():
            raise TaskCancelledError()
        self.setProgress(100.0 * done / max(total, 1))

    def finished(self, result: bool) -> None:
        if not result and not self.outcome.error:
            self.outcome.cancelled = True  # cancelled before run() started
        self.done(self.outcome)


class GeometryCheckTask(StoreTask):
    """check_geometry in the background; its layers are made in finished()."""

    def __init__(self, source, label: str, actor: str, settlement_id: Optional[str],
                 done: Callable[[TaskOutcome], None]) -> None:
        self.settlement_id = settlement_id

        def work(store: SettlementStore, task: StoreTask) -> GeometryReport:
            return check_geometry(store, settlement_id, progress=task.progress,
                                  is_cancelled=task.isCanceled)

        super().__init__(tr("Checking the geometry of {0}").format(label), source, label,
                         actor, work, done, read_only=isinstance(source, SpatiaLiteSource))

    def finished(self, result: bool) -> None:
        if result and self.outcome.result is not None:
            try:
                self.outcome.layers = show_findings(QgsProject.instance(), self.outcome.label,
                                                    self.outcome.result, self.outcome.srid)
            except Exception as error:  # a failed layer must not lose the report
                self.outcome.error = tr("The problems could not be shown on the map: "
                                        "{0}").format(error)
        super().finished(result)


# --- layers -----------------------------------------------------------------------------------
def result_layer(name: str, geometry_type: str, srid: int, fields: Sequence[tuple[str, str]],
                 rows: Sequence[tuple[Optional[bytes], Sequence[Any]]], category_field: str,
                 categories: Sequence[tuple[str, str, str]], *, opacity: float = 1.0
                 ) -> QgsVectorLayer:
    """A memory layer of ``rows`` (WKB, values), categorised on ``category_field`` with
    ``categories`` of (value, legend label, colour)."""
    spec = "&".join(f"field={name_}:{kind}" for name_, kind in fields)
    layer = QgsVectorLayer(f"{geometry_type}?crs=EPSG:{srid}&{spec}", name, "memory")
    features = []
    for wkb, values in rows:
        feature = QgsFeature(layer.fields())
        if wkb is not None:
            geometry = QgsGeometry()
            geometry.fromWkb(wkb)
            feature.setGeometry(geometry)
        feature.setAttributes(list(values))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.updateExtents()
    symbols = []
    for value, label, colour in categories:
        if geometry_type == "Point":
            symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": colour,
                                                   "outline_color": "#ffffff",
                                                   "outline_width": "0.4", "size": "3.4"})
        else:
            symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": colour,
                                                 "outline_width": "0.5"})
        symbols.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(category_field, symbols))
    layer.setOpacity(opacity)
    return layer


def polygonal_wkb(geometry: Any) -> Optional[bytes]:
    """The polygons of a shape as one MultiPolygon (None when it has none)."""
    if geometry is None or geometry.is_empty:
        return None
    parts = [p for p in shapely.get_parts(geometry)
             if p.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.multipolygons(polygons).wkb if polygons else None


def finding_layers(report: GeometryReport, srid: int) -> list[QgsVectorLayer]:
    """The points of every finding and the areas of those that have one."""
    names = kind_names()
    categories = [(kind, names[kind][1].capitalize(), colour)
                  for kind, colour in KIND_COLOURS.items()]
    points, areas = [], []
    for index, finding in enumerate(report.findings):
        values = (index, finding.kind, ", ".join(finding.record_codes), finding.message,
                  finding.area_m2)
        points.append((finding.location_wkb, values))
        shape = polygonal_wkb(finding.geometry)
        if shape is not None:
            areas.append((shape, values))
    return [result_layer(tr(PROBLEMS_LAYER), "Point", srid, FINDING_FIELDS, points, "kind",
                         categories),
            result_layer(tr(AREAS_LAYER), "MultiPolygon", srid, FINDING_FIELDS, areas, "kind",
                         categories, opacity=0.55)]


def reconciliation_layer(result: Any, srid: int, name: str) -> QgsVectorLayer:
    """Both sides of a reconciliation (core Reconciliation) as one layer, by status."""
    names = status_names(legend=True)
    rows = [(parcel.geometry_wkb, [row["side"], row["status"], row["parcel"],
                                   row["record_id"], row["fid"], row["area_m2"],
                                   row["partners"], row["symmetric_difference_m2"],
                                   row["group"]])
            for parcel, row in ((p, p.row()) for p in result.parcels)]
    return result_layer(tr("Reconciliation with {0}").format(name), "MultiPolygon", srid,
                        RECONCILE_FIELDS, rows, "status",
                        [(s, names[s].capitalize(), c) for s, c in STATUS_COLOURS.items()],
                        opacity=0.6)


def store_group(project: QgsProject, label: str) -> Optional[QgsLayerTreeGroup]:
    """The layer tree group that shows the store ``label``, if the project still has it."""
    return next((g for g in store_groups(project) if g.customProperty("stdm/store") == label),
                None)


def show_findings(project: QgsProject, label: str, report: GeometryReport,
                  srid: int) -> list[QgsVectorLayer]:
    """Put the finding layers at the top of the store's group, replacing an earlier check's."""
    remove_findings(project, label)
    layers = finding_layers(report, srid)
    group = store_group(project, label)
    project.addMapLayers(layers, group is None)
    for position, layer in enumerate(layers):
        layer.setCustomProperty(RESULT_PROPERTY, label)
        if group is not None:
            group.insertLayer(position, layer)
    return layers


def remove_findings(project: QgsProject, label: str) -> None:
    old = [layer.id() for layer in project.mapLayers().values()
           if layer.customProperty(RESULT_PROPERTY) == label]
    if old:
        project.removeMapLayers(old)


# --- repairs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepairRequest:
    """One safe repair of one record, as the user chose it."""

    repair: str  #: MAKE_VALID or SNAP
    record_id: str
    tolerance_m: float = 0.5
    #: the row version the preview saw; applying refuses if the record changed since
    expected_version: Optional[int] = None


@dataclass(frozen=True)
class RepairPreview:
    fix: GeometryFix
    version_before: int


class _RollBackError(Exception):
    """Leaves a preview's transaction without writing."""


def repair(store: SettlementStore, request: RepairRequest) -> GeometryFix:
    """Apply the repair (raises the core's refusal, GeometryFixRefusedError, with the reason)."""
    if request.repair == MAKE_VALID:
        return fix_invalid(store, request.record_id, expected_version=request.expected_version)
    return snap_to_neighbour(store, request.record_id, request.tolerance_m,
                             expected_version=request.expected_version)


def preview_repair(store: SettlementStore, request: RepairRequest) -> RepairPreview:
    """What ``repair`` would write, written inside a transaction that is rolled back."""
    before = store.spatial_units.get(request.record_id).row_version
    seen: list[GeometryFix] = []
    try:
        with store.transaction():
            seen.append(repair(store, request))
            raise _RollBackError()
    except _RollBackError:
        pass
    return RepairPreview(seen[0], before)
