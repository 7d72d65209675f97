"""stdm:importstructures and stdm:reconcilecadastre: cadastre exchange in Processing.

Both read a Shapefile, GeoPackage layer or GeoJSON file through the core
(spatial_files.py), which names every defect by file, layer, feature and
field. A file that cannot be read at all stops the algorithm with that
message; problems of single features are listed (the feedback log and a
CSV) and counted, and never stop it.
"""
from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputNumber,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ...core.cadastre.reconcile import CADASTRAL, ENUMERATED, PARCEL_COLUMNS, STATUSES, reconcile
from ...core.cadastre.spatial_features import ERROR
from ...core.cadastre.structures import MODES, import_structures, write_problems_csv
from ..i18n import tr
from ..store.processing import (
    SPATIAL_FILE_FILTER,
    FeedbackPace,
    StoreAlgorithm,
    core_errors,
    crs_of,
    geometry_from_wkb,
)

CSV_FILTER = "CSV files (*.csv)"
#: most problems listed one by one in the log; all of them are in the CSV
LOGGED_PROBLEMS = 50
PARCEL_FIELD_TYPES = {"area_m2": QVariant.Double, "symmetric_difference_m2": QVariant.Double,
                      "group": QVariant.Int}
#: "fid" is the GeoPackage's own key column: the cadastre's feature id goes out renamed
SINK_NAMES = {"fid": "source_fid"}
#: output number per side and status: ENUMERATED_MATCHED, CADASTRAL_MISSING, ...
STATUS_OUTPUTS = {(side, status): f"{side}_{status}".upper()
                  for side in (ENUMERATED, CADASTRAL) for status in STATUSES}


class SpatialFileAlgorithm(StoreAlgorithm):
    """An algorithm reading one layer of a spatial file into the store's CRS."""

    LAYER = "LAYER"
    SOURCE_CRS = "SOURCE_CRS"
    ENCODING = "ENCODING"
    PROBLEMS = "PROBLEMS"
    GROUP = "cadastre"

    def add_file_parameters(self, name: str, text: str) -> None:
        self.addParameter(QgsProcessingParameterFile(
            name, text, behavior=QgsProcessingParameterFile.File,
            fileFilter=tr(SPATIAL_FILE_FILTER)))
        self.addParameter(QgsProcessingParameterString(
            self.LAYER, tr("Layer of the GeoPackage (empty: its only polygon layer)"),
            optional=True))
        self.add_crs_parameter(self.SOURCE_CRS, tr("CRS of the file's coordinates (empty: the "
                                                   "one the file declares)"))
        encoding = QgsProcessingParameterString(
            self.ENCODING, tr("Text encoding of a Shapefile (empty: as it declares)"),
            optional=True)
        encoding.setFlags(encoding.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(encoding)

    def file_options(self, parameters: dict, context) -> dict:
        return {"layer": self.parameterAsString(parameters, self.LAYER, context) or None,
                "source_crs": self.crs_choice(self.SOURCE_CRS, parameters, context),
                "encoding": self.parameterAsString(parameters, self.ENCODING, context) or None}

    def input_path(self, name: str, parameters: dict, context) -> str:
        path = self.parameterAsFile(parameters, name, context)
        if not path:
            raise QgsProcessingException(tr("Choose the file to read ({0}).").format(name))
        return path

    def report_problems(self, problems: list, parameters: dict, context, feedback) -> str:
        """Problems in the log (the first ones) and in the CSV when one was asked for."""
        for problem in problems[:LOGGED_PROBLEMS]:
            (feedback.reportError if problem.severity == ERROR
             else feedback.pushWarning)(problem.message)
        if len(problems) > LOGGED_PROBLEMS:
            feedback.pushInfo(tr("… and {0} more problem(s), listed in the CSV.").format(
                len(problems) - LOGGED_PROBLEMS))
        path = self.parameterAsFileOutput(parameters, self.PROBLEMS, context)
        if path:
            with core_errors():
                write_problems_csv(path, problems)
        return path


def unreadable(problems: list):
    """The problem of a file that could not be read at all (no feature), if that happened."""
    return next((p for p in problems if p.index is None and p.severity == ERROR), None)


class ImportStructuresAlgorithm(SpatialFileAlgorithm):
    INPUT = "INPUT"
    MODE = "MODE"
    WRITTEN = "WRITTEN"
    NUMBERS = ("FEATURES_READ", "IMPORTED", "REJECTED", "HELD_BACK", "LINKED_TO_PARCELS",
               "ERRORS", "WARNINGS")

    def name(self) -> str:
        return "importstructures"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Import structure footprints")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Imports building footprints (polygons of a Shapefile, GeoPackage layer or "
            "GeoJSON file, in any CRS) as structures of one settlement of the store, with "
            "their codes, areas and history as for any structure. Each structure is put on "
            "the parcel that holds most of it.\n\n"
            "Mode: 'All or nothing' writes nothing when any feature has a problem; 'Valid "
            "features only' writes the others. Either way the write is one transaction.\n\n"
            "Every feature not imported is listed with file, feature id and reason, in the "
            "log and in the problems CSV. A file that cannot be read at all stops the "
            "algorithm with the reason.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.add_file_parameters(self.INPUT, tr("Footprints file"))
        self.add_settlement_parameter(optional=False)
        self.addParameter(QgsProcessingParameterEnum(
            self.MODE, tr("Mode"), [tr("All or nothing"), tr("Valid features only")],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.PROBLEMS, tr("Problems (CSV)"), tr(CSV_FILTER), optional=True,
            createByDefault=True))
        self.addOutput(QgsProcessingOutputBoolean(self.WRITTEN, tr("Structures written")))
        for name, text in zip(self.NUMBERS, (
                tr("Features read"), tr("Structures imported"), tr("Features rejected"),
                tr("Features held back (all or nothing)"), tr("Structures put on a parcel"),
                tr("Problems"), tr("Warnings"))):
            self.addOutput(QgsProcessingOutputNumber(name, text))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        path = self.input_path(self.INPUT, parameters, context)
        mode = MODES[self.parameterAsEnum(parameters, self.MODE, context)]
        pace.stop_if_cancelled(tr("The import"))
        store = self.open_store(parameters, context, feedback, write=True)
        try:
            settlement_id = self.settlement_id(store, parameters, context)
            pace.stop_if_cancelled(tr("The import"))
            with core_errors():
                report = import_structures(store, path, settlement_id, mode=mode,
                                           **self.file_options(parameters, context))
        finally:
            store.close()
        feedback.setProgress(100)
        csv_path = self.report_problems(report.problems, parameters, context, feedback)
        failure = unreadable(report.problems) if not report.features_read else None
        if failure is not None:
            raise QgsProcessingException(failure.message)
        feedback.pushInfo(report.summary())
        numbers = (report.features_read, report.imported, report.rejected, report.held_back,
                   report.linked_to_parcels, len(report.errors()), len(report.warnings()))
        results = {self.WRITTEN: report.written, **dict(zip(self.NUMBERS, numbers))}
        if csv_path:
            results[self.PROBLEMS] = csv_path
        return results


class ReconcileCadastreAlgorithm(SpatialFileAlgorithm):
    CADASTRE = "CADASTRE"
    ID_FIELD = "ID_FIELD"
    MIN_OVERLAP = "MIN_OVERLAP"
    TOLERANCE = "TOLERANCE"
    OUTPUT = "OUTPUT"
    UNUSABLE = "UNUSABLE"

    def name(self) -> str:
        return "reconcilecadastre"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Reconcile parcels with a cadastre")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Compares the enumerated parcels of the store (one settlement, or all) with the "
            "parcels of a cadastre file and classifies every parcel on each side: matched, "
            "changed_boundary (one-to-one, but the boundaries differ by more than the "
            "tolerance), new (enumerated, not in the cadastre), missing (in the cadastre, not "
            "enumerated) or conflict (one parcel across several of the other side).\n\n"
            "Two parcels are linked when their overlap is at least the minimum overlap share "
            "of either. The output layer holds both sides (field side), with status, "
            "partners and their overlap shares; source_fid is the feature id in the cadastre "
            "file. The counts are output numbers such as ENUMERATED_NEW or "
            "CADASTRAL_MISSING.\n\nNothing is written to the store.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.add_file_parameters(self.CADASTRE, tr("Cadastre file"))
        self.addParameter(QgsProcessingParameterString(
            self.ID_FIELD, tr("Field of the cadastre's parcel ids (empty: feature ids)"),
            optional=True))
        self.add_settlement_parameter()
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_OVERLAP, tr("Minimum overlap share to link two parcels (0-1)"),
            QgsProcessingParameterNumber.Double, 0.5, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, tr("Boundary tolerance (m², symmetric difference)"),
            QgsProcessingParameterNumber.Double, 5.0, minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Reconciled parcels"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.PROBLEMS, tr("Problems of the cadastre file (CSV)"), tr(CSV_FILTER),
            optional=True, createByDefault=False))
        for (side, status), output in STATUS_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(
                output, tr("{0} parcels: {1}").format(tr(side), tr(status.replace("_", " ")))))
        self.addOutput(QgsProcessingOutputNumber(
            self.UNUSABLE, tr("Cadastral features not compared")))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        path = self.input_path(self.CADASTRE, parameters, context)
        pace.stop_if_cancelled(tr("The reconciliation"))
        store = self.open_store(parameters, context, feedback)
        try:
            settlement_id = self.settlement_id(store, parameters, context)
            id_field = self.parameterAsString(parameters, self.ID_FIELD, context) or None
            with core_errors():
                result = reconcile(
                    store, path, settlement_id, id_field=id_field,
                    min_overlap=self.parameterAsDouble(parameters, self.MIN_OVERLAP, context),
                    boundary_tolerance_m2=self.parameterAsDouble(parameters, self.TOLERANCE,
                                                                 context),
                    **self.file_options(parameters, context))
            crs = crs_of(store)
        finally:
            store.close()
        pace.stop_if_cancelled(tr("The reconciliation"))
        fields = QgsFields()
        for column in PARCEL_COLUMNS:
            fields.append(QgsField(SINK_NAMES.get(column, column),
                                   PARCEL_FIELD_TYPES.get(column, QVariant.String)))
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                             QgsWkbTypes.MultiPolygon, crs)
        if sink is None:
            raise self.invalidSinkError(parameters, self.OUTPUT)
        for parcel in result.parcels:
            row = parcel.row()
            feature = QgsFeature(fields)
            feature.setAttributes([row[c] for c in PARCEL_COLUMNS])
            feature.setGeometry(geometry_from_wkb(parcel.geometry_wkb, multi=True))
            sink.addFeature(feature, QgsFeatureSink.FastInsert)
        feedback.setProgress(100)
        csv_path = self.report_problems(result.problems, parameters, context, feedback)
        feedback.pushInfo(result.summary())
        counts = result.counts()
        results = {self.OUTPUT: sink_id,
                   self.UNUSABLE: len({p.index for p in result.problems
                                       if p.severity == ERROR and p.index is not None}),
                   **{output: counts[side][status]
                      for (side, status), output in STATUS_OUTPUTS.items()}}
        if csv_path:
            results[self.PROBLEMS] = csv_path
        return results
