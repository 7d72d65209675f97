"""Cutting a field package in the background, then writing its project on the main thread.

Copying a few blocks takes seconds, a whole settlement with its photos
minutes; QGIS must stay usable meanwhile, so the core's ``cut_package``
runs as a QgsTask with a progress bar and Cancel. The task opens its own
connection to the store inside ``run()`` (a SQLite connection belongs to
the thread that made it; a PostGIS store's credentials are read from QGIS's
authentication manager in the main thread, by ``store_opener``) and makes
the person signed in the one working in it again (``resume_session``), so
the core checks their role and records who cut the package.

The core asks ``cancelled()`` between tables, inside its transaction, and
builds the folder under a temporary name: Cancel leaves neither a folder
nor an entry in the store's register. The package's QGIS project is
written in ``finished()``, on the main thread, where QGIS projects and
layers may be made.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Callable, Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProject,
    QgsTask,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ...core.packages.field_package import FieldPackage, PackageRequest, cut_package
from ...core.safety.personal_data import new_key
from ...core.settlement_store import SettlementStore
from ...core.store.errors import (
    PackageCancelledError,
)
from ...core.store.users import resume_session
from ..cadastre.geometry_task import store_opener
from ..forms.rules import shipped_form_path
from ..i18n import tr
from ..store.tasks import note_failure
from ..submissions.import_task import Source
from .field_project import write_package_project


class PackageSetupError(RuntimeError):
    """Why a package cannot be cut as asked; the message is for the message bar."""


def block_choices(store: SettlementStore) -> list[tuple[str, int]]:
    """The blocks of the store's current parcels, with how many parcels each has."""
    rows = store.db.query("SELECT block, count(*) AS parcels FROM spatial_unit "
                          "WHERE kind = 'parcel' AND end_lifespan_version IS NULL "
                          "AND block IS NOT NULL AND block <> '' GROUP BY block ORDER BY block")
    return [(str(r["block"]), int(r["parcels"])) for r in rows]


def selected_area_wkt(layer: QgsVectorLayer, srid: int) -> str:
    """The union of the polygons selected on ``layer``, in the store's CRS, as WKT."""
    if layer.geometryType() != QgsWkbTypes.PolygonGeometry:
        raise PackageSetupError(tr("The layer {0} has no polygons to take the package area "
                                   "from.").format(layer.name()))
    shapes = [f.geometry() for f in layer.getSelectedFeatures()
              if f.hasGeometry() and not f.geometry().isEmpty()]
    if not shapes:
        raise PackageSetupError(tr("Select the polygons of the package area on the layer {0} "
                                   "first.").format(layer.name()))
    if not layer.crs().isValid():
        raise PackageSetupError(tr("The layer {0} has no coordinate reference system; set it "
                                   "first (Layer Properties ▸ Source).").format(layer.name()))
    area = QgsGeometry.unaryUnion(shapes)
    target = QgsCoordinateReferenceSystem(f"EPSG:{srid}")
    if layer.crs() != target:
        area.transform(QgsCoordinateTransform(layer.crs(), target, QgsProject.instance()))
    if area.isNull() or area.isEmpty():
        raise PackageSetupError(tr("The polygons selected on {0} make no area.").format(
            layer.name()))
    return area.asWkt()


@dataclass
class PackageSource:
    """The store a package is cut from, and who cuts it."""

    source: Source
    label: str
    #: the person signed in (None in a store without users, where anyone may cut)
    login: Optional[str]
    actor: str


@dataclass
class PackageOutcome:
    """What the task hands back; plain values, since QGIS deletes the task after finished()."""

    folder: str
    team: str
    package: Optional[FieldPackage] = None
    #: the package's QGIS project, once written
    project: str = ""
    #: the pseudonym key (hex) of a pseudonymised package: shown once, never saved
    key: Optional[str] = None
    cancelled: bool = False
    #: why the work did not run to its end, for the message bar
    error: str = ""
    #: the FieldPackageError's kind ("area", "target_exists", ...), "permission", or ""
    kind: str = ""

    @property
    def ok(self) -> bool:
        return self.package is not None and not self.error and not self.cancelled


def pseudonym_request(request: PackageRequest) -> tuple[PackageRequest, Optional[str]]:
    """The request with a fresh pseudonym key when it pseudonymises without one, and the
    key as hex: the core would make its own and not say which."""
    if request.personal_data != "pseudonymise":
        return request, None
    key = request.key if request.key is not None else new_key()
    hex_key = key.hex() if isinstance(key, bytes) else str(key)
    return dataclasses.replace(request, key=key), hex_key


class CutPackageTask(QgsTask):
    """cut_package on the task's own connection; the project and the outcome follow on the
    main thread."""

    def __init__(self, origin: PackageSource, folder: str, request: PackageRequest,
                 done: Callable[[PackageOutcome], None], lang: str = "en",
                 forms_dir: Optional[str] = None) -> None:
        super().__init__(tr("Cutting a field package for {0} from {1}").format(
            request.team, origin.label), QgsTask.CanCancel)
        # a PostGIS store's credentials come from QGIS's authentication manager, here
        self._open = store_opener(origin.source, origin.actor)
        self.origin = origin
        self.request, key = pseudonym_request(request)
        self.folder = os.path.abspath(folder)
        self.lang = lang
        self.forms_dir = forms_dir if forms_dir is not None else str(shipped_form_path().parent)
        self.done = done
        self.outcome = PackageOutcome(self.folder, request.team, key=key)

    def run(self) -> bool:
        outcome = self.outcome
        try:
            self._step(0.01)
            with self._open() as store:
                if self.origin.login:
                    resume_session(store, self.origin.login)
                outcome.package = cut_package(store, self.folder, self.request,
                                              forms_dir=self.forms_dir, progress=self._move,
                                              cancelled=self.isCanceled)
            return True
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            note_failure(outcome, error, PackageCancelledError)
        return False

    def _step(self, fraction: float) -> None:
        if self.isCanceled():
            raise PackageCancelledError(tr("Cutting the package was cancelled."))
        self._move(fraction)

    def _move(self, fraction: float, _message: str = "") -> None:
        # 90 % for the cut; the project, written in finished(), is the rest
        self.setProgress(90.0 * max(0.0, min(fraction, 1.0)))

    def finished(self, result: bool) -> None:
        outcome = self.outcome
        if result and outcome.package is not None:
            try:
                outcome.project = write_package_project(outcome.package, self.lang)
            except Exception as error:  # the package stands; say what is missing
                outcome.error = tr("The package was written to {0}, but its QGIS project was "
                                   "not: {1}").format(outcome.folder, error)
        elif not outcome.error:
            outcome.cancelled = True  # cancelled before run() started, or in cut_package
        self.done(outcome)
