"""What every STDM Processing algorithm shares: the store, the settlement, errors, progress.

The algorithms are thin: each reads its parameters, opens the settlement
store named by a file path (so that it runs in models and from
``qgis_process``, where there is no project to find a store in), calls
one core function and turns its result into sinks, files and numbers.

A refusal of the core (a StdmError, whose message names the file, record
or field) becomes a QgsProcessingException with that same message, which
is what Processing shows in its log and what ``qgis_process`` prints.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsGeometry,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterCrs,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtGui import QIcon

from ...core import SettlementStore, StdmError
from ...core.store.migrations import SCHEMA_VERSION
from ..i18n import tr

STORE_FILTER = "SpatiaLite settlement store (*.sqlite *.db);;All files (*)"
SPATIAL_FILE_FILTER = ("Shapefile, GeoPackage or GeoJSON (*.shp *.gpkg *.geojson *.json);;"
                       "All files (*)")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: inside the packaged plugin the resources sit in the package, in the repository beside it
ICON_CANDIDATES = (os.path.join(_PACKAGE_DIR, "resources", "icon.svg"),
                   os.path.join(os.path.dirname(_PACKAGE_DIR), "resources", "icon.svg"))


def plugin_icon() -> QIcon:
    for path in ICON_CANDIDATES:
        if os.path.isfile(path):
            return QIcon(path)
    return QIcon()


@contextlib.contextmanager
def core_errors() -> Iterator[None]:
    """Let a refusal of the core reach Processing with its own message."""
    try:
        yield
    except StdmError as error:
        raise QgsProcessingException(str(error)) from error
    except OSError as error:  # a file we write (a report) that cannot be written
        name = error.filename or ""
        raise QgsProcessingException(
            tr("{0} could not be written: {1}").format(name, error.strerror or error)
            if name else str(error)) from error


class FeedbackPace:
    """The core's ``progress(done, total, stage)`` and ``is_cancelled()`` on a feedback."""

    def __init__(self, feedback) -> None:
        self.feedback = feedback
        self.stage = ""

    def progress(self, done: int, total: int, stage: str = "") -> None:
        if self.feedback is None:
            return
        if stage and stage != self.stage:
            self.stage = stage
            self.feedback.setProgressText(tr(stage))
        self.feedback.setProgress(100.0 * done / max(total, 1))

    def is_cancelled(self) -> bool:
        return self.feedback is not None and self.feedback.isCanceled()

    def stop_if_cancelled(self, what: str) -> None:
        """Between steps that the core cannot interrupt: say nothing was done."""
        if self.is_cancelled():
            raise QgsProcessingException(tr("{0} was cancelled; nothing was changed.").format(
                what))


class StoreAlgorithm(QgsProcessingAlgorithm):
    """An algorithm over one SpatiaLite settlement store, named by its file path."""

    STORE = "STORE"
    SETTLEMENT = "SETTLEMENT"
    GROUP = "quality"

    def createInstance(self):  # noqa: N802 - Processing's hook
        return type(self)()

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP

    def group(self) -> str:
        return {"quality": tr("Quality control"), "cadastre": tr("Cadastre exchange"),
                "export": tr("Export")}[self.GROUP]

    def icon(self) -> QIcon:
        return plugin_icon()

    # --- parameters shared by the algorithms ------------------------------------------
    def add_store_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.STORE, tr("Settlement store (SpatiaLite file)"),
            behavior=QgsProcessingParameterFile.File, fileFilter=tr(STORE_FILTER)))

    def add_settlement_parameter(self, optional: bool = True) -> None:
        text = (tr("Settlement code (empty: every settlement of the store)") if optional
                else tr("Settlement code"))
        self.addParameter(QgsProcessingParameterString(self.SETTLEMENT, text,
                                                       optional=optional))

    def add_crs_parameter(self, name: str, text: str) -> None:
        self.addParameter(QgsProcessingParameterCrs(name, text, optional=True))

    # --- reading them -------------------------------------------------------------------
    def store_path(self, parameters: dict, context) -> str:
        path = self.parameterAsFile(parameters, self.STORE, context)
        if not path:
            raise QgsProcessingException(tr("Choose the settlement store file ({0}).").format(
                self.STORE))
        return path

    def open_store(self, parameters: dict, context, feedback, *,
                   write: bool = False) -> SettlementStore:
        """Open the store; read-only when the algorithm only reads.

        A store made by an older plugin cannot be read as it is: it is opened
        for writing once, which upgrades it after writing a backup copy beside it.
        """
        path = self.store_path(parameters, context)
        with core_errors():
            store = SettlementStore.open(path, read_only=not write)
            if write or store.schema_version >= SCHEMA_VERSION:
                return store
            store.close()
            feedback.pushInfo(tr("{0} was made by an older version of the plugin; it is "
                                 "upgraded first (a backup copy is written beside it).").format(
                                     path))
            return SettlementStore.open(path)

    def settlement_id(self, store: SettlementStore, parameters: dict, context) -> str | None:
        """The id of the settlement whose code was given; None when none was."""
        code = (self.parameterAsString(parameters, self.SETTLEMENT, context) or "").strip()
        if not code:
            return None
        with core_errors():
            settlement = store.settlements.by_code(code.upper())
        if settlement is None:
            with core_errors():
                known = [s.code for s in store.settlements.find(order_by="code")]
            raise QgsProcessingException(
                tr("There is no settlement with the code {0} in {1}; its settlements are: "
                   "{2}.").format(code, store.db.location, ", ".join(known) or tr("none")))
        return settlement.id

    def crs_choice(self, name: str, parameters: dict, context) -> str | None:
        """A CRS parameter as the core takes it: "EPSG:xxxx", WKT, or None when not set."""
        crs: QgsCoordinateReferenceSystem = self.parameterAsCrs(parameters, name, context)
        if not crs.isValid():
            return None
        return crs.authid() or crs.toWkt()


def crs_of(store: SettlementStore) -> QgsCoordinateReferenceSystem:
    return QgsCoordinateReferenceSystem(f"EPSG:{store.srid}")


def joined(values: Any) -> str:
    return ";".join(str(v) for v in values if v not in (None, ""))


def geometry_from_wkb(wkb: bytes, multi: bool = False) -> QgsGeometry:
    geometry = QgsGeometry()
    geometry.fromWkb(wkb)
    if multi:
        geometry.convertToMultiType()
    return geometry
