"""stdm:cutfieldpackage: a field package cut from a store, in models and from qgis_process.

The area is given as blocks of the store (comma-separated) or as a polygon
layer (its selected features when "selected features only" is ticked), in
any CRS: the polygons are united and brought into the store's CRS. The
core cuts the package (all or nothing, Cancel honoured between tables) in
``processAlgorithm``, which Processing may run in a worker thread; the
package's QGIS project is written in ``postProcessAlgorithm``, which
Processing runs on the main thread, where QGIS projects may be made.

Processing has no sign-in: a store that has users refuses the cut (the
core's rule), and it is made from the plugin's menu by a supervisor.
"""
from __future__ import annotations

from typing import Optional

from qgis.core import (
    QgsCoordinateTransform,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ...core.packages.field_package import FieldPackage, PackageRequest, cut_package
from ...core.safety.personal_data import MODES
from ..exchange.processing import MODE_LABELS
from ..forms.rules import shipped_form_path
from ..i18n import tr
from ..store.processing import StoreAlgorithm, core_errors, crs_of
from .cut_task import pseudonym_request
from .field_project import write_package_project

#: the package's counts as output numbers
COUNT_OUTPUTS = {"spatial_unit": "SPATIAL_UNITS", "party": "PARTIES",
                 "social_tenure": "TENURE", "supporting_document": "DOCUMENTS"}
INCLUDE = MODES.index("include")


class CutFieldPackageAlgorithm(StoreAlgorithm):
    TEAM = "TEAM"
    BLOCKS = "BLOCKS"
    AREA = "AREA"
    ENUMERATORS = "ENUMERATORS"
    DEVICE = "DEVICE"
    MARGIN = "MARGIN"
    PERSONAL_DATA = "PERSONAL_DATA"
    OUTPUT = "OUTPUT"
    PROJECT = "PROJECT"
    PACKAGE_ID = "PACKAGE_ID"
    PSEUDONYM_KEY = "PSEUDONYM_KEY"
    GROUP = "fieldwork"  # with stdm:mergefieldpackage

    def __init__(self) -> None:
        super().__init__()
        self.package: Optional[FieldPackage] = None
        self.key: Optional[str] = None

    def name(self) -> str:
        return "cutfieldpackage"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Cut field package")

    def group(self) -> str:
        return tr("Field packages")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Writes a field package into a new (or empty) folder: a settlement store of its "
            "own with the parcels of the chosen blocks, or of the area of a polygon layer, "
            "and those within the margin around it, with the structures, tenure records, "
            "households and documents on them and every code list; a QGIS project "
            "(field_package.qgz) that opens it in QGIS or QField without network; the "
            "enumeration forms; and package.json. The store keeps a register of the package, "
            "to merge it back later.\n\n"
            "Personal data: 'Include' (the default) copies names, ID and phone numbers as "
            "recorded; 'Omit' leaves them and person documents out; 'Pseudonymise' replaces "
            "them with pseudonyms whose secret key is the output PSEUDONYM_KEY (keep it "
            "secret). A store with users refuses the cut here: make it from the STDM menu, "
            "signed in as a supervisor.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.addParameter(QgsProcessingParameterString(self.TEAM, tr("Team")))
        self.addParameter(QgsProcessingParameterString(
            self.BLOCKS, tr("Blocks (separated by commas)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.AREA, tr("Or the area: polygons of a layer"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.ENUMERATORS, tr("Enumerators (separated by commas)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.PERSONAL_DATA, tr("Personal data"), [tr(MODE_LABELS[m]) for m in MODES],
            defaultValue=INCLUDE))
        device = QgsProcessingParameterString(self.DEVICE, tr("Device"), optional=True)
        margin = QgsProcessingParameterNumber(
            self.MARGIN, tr("Margin around the area (metres)"),
            QgsProcessingParameterNumber.Double, defaultValue=PackageRequest.margin_m,
            minValue=0.0)
        for advanced in (device, margin):
            advanced.setFlags(advanced.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(advanced)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, tr("Package folder (new or empty)")))
        self.addOutput(QgsProcessingOutputFile(self.PROJECT, tr("QGIS project of the package")))
        self.addOutput(QgsProcessingOutputString(self.PACKAGE_ID, tr("Package id")))
        self.addOutput(QgsProcessingOutputString(self.PSEUDONYM_KEY,
                                                 tr("Pseudonym key (keep it secret)")))
        for table, output in COUNT_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(output, tr("Records in {0}").format(
                table)))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        folder = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not folder:
            raise QgsProcessingException(tr("Choose the package folder ({0}).").format(
                self.OUTPUT))
        blocks = self._listed(parameters, self.BLOCKS, context)
        has_area = parameters.get(self.AREA) not in (None, "")
        if blocks and has_area:
            raise QgsProcessingException(tr("Give the blocks ({0}) or the area layer ({1}), "
                                             "not both.").format(self.BLOCKS, self.AREA))
        if not blocks and not has_area:
            raise QgsProcessingException(tr("Give the blocks ({0}) or an area layer "
                                             "({1}).").format(self.BLOCKS, self.AREA))
        store = self.open_store(parameters, context, feedback, write=True)
        try:
            request, self.key = pseudonym_request(PackageRequest(
                team=self.parameterAsString(parameters, self.TEAM, context).strip(),
                area_wkt=self._area(parameters, context, store) if has_area else None,
                blocks=blocks,
                enumerators=self._listed(parameters, self.ENUMERATORS, context),
                device=self.parameterAsString(parameters, self.DEVICE, context).strip()
                or None,
                margin_m=self.parameterAsDouble(parameters, self.MARGIN, context),
                personal_data=MODES[self.parameterAsEnum(parameters, self.PERSONAL_DATA,
                                                         context)]))

            def progress(fraction: float, message: str) -> None:
                feedback.setProgressText(message)
                feedback.setProgress(90.0 * fraction)

            with core_errors():
                self.package = cut_package(store, folder, request,
                                           forms_dir=str(shipped_form_path().parent),
                                           progress=progress, cancelled=feedback.isCanceled)
        finally:
            store.close()
        feedback.pushInfo(tr("Wrote the field package for {0} to {1}: {2}.").format(
            self.package.team, self.package.folder,
            ", ".join(f"{table} {n}" for table, n in self.package.counts.items())))
        return {self.OUTPUT: self.package.folder}

    def postProcessAlgorithm(self, context, feedback) -> dict:  # noqa: N802 - main thread
        package = self.package
        if package is None:
            return {}
        project = write_package_project(package)
        feedback.setProgress(100)
        if self.key:
            feedback.pushInfo(tr("The pseudonym key is in the output {0}; keep it secret, "
                                 "apart from the package.").format(self.PSEUDONYM_KEY))
        results = {self.OUTPUT: package.folder, self.PROJECT: project,
                   self.PACKAGE_ID: package.id, self.PSEUDONYM_KEY: self.key or ""}
        results.update({output: package.counts.get(table, 0)
                        for table, output in COUNT_OUTPUTS.items()})
        return results

    # --- reading the parameters ------------------------------------------------------------
    def _listed(self, parameters: dict, name: str, context) -> list[str]:
        text = self.parameterAsString(parameters, name, context) or ""
        return [part.strip() for part in text.split(",") if part.strip()]

    def _area(self, parameters: dict, context, store) -> str:
        """The polygons of the area layer, united, in the store's CRS, as WKT."""
        source = self.parameterAsSource(parameters, self.AREA, context)
        if source is None:
            raise QgsProcessingException(tr("The area layer ({0}) could not be read.").format(
                self.AREA))
        shapes = [f.geometry() for f in source.getFeatures()
                  if f.hasGeometry() and not f.geometry().isEmpty()]
        if not shapes:
            raise QgsProcessingException(tr("The area layer ({0}) has no polygons (or none "
                                            "selected).").format(self.AREA))
        area = QgsGeometry.unaryUnion(shapes)
        target = crs_of(store)
        if source.sourceCrs().isValid() and source.sourceCrs() != target:
            area.transform(QgsCoordinateTransform(source.sourceCrs(), target,
                                                  context.transformContext()))
        return area.asWkt()
