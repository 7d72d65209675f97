"""The plugin's Processing provider: its algorithms in the toolbox, models and qgis_process.

Registered by ``StdmPlugin.initProcessing`` (which QGIS's qgis_process calls
too, without a GUI, for plugins whose metadata says hasProcessingProvider).
"""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .cadastre.processing import ImportStructuresAlgorithm, ReconcileCadastreAlgorithm
from .cadastre.processing_geometry import CheckGeometryAlgorithm
from .exchange.processing import ExportChangesAlgorithm, ExportStoreAlgorithm
from .i18n import tr
from .packages.processing_cut import CutFieldPackageAlgorithm
from .packages.processing_merge import MergeFieldPackageAlgorithm
from .store.processing import plugin_icon

PROVIDER_ID = "stdm"
ALGORITHMS = (CheckGeometryAlgorithm, ImportStructuresAlgorithm, ReconcileCadastreAlgorithm,
              ExportStoreAlgorithm, ExportChangesAlgorithm, CutFieldPackageAlgorithm,
              MergeFieldPackageAlgorithm)


class StdmProvider(QgsProcessingProvider):
    def id(self) -> str:
        return PROVIDER_ID

    def name(self) -> str:
        return tr("STDM Settlement Mapper")

    def longName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("STDM Settlement Mapper: settlement store tools")

    def icon(self) -> QIcon:
        return plugin_icon()

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
