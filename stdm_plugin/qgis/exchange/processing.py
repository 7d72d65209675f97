"""stdm:exportstore and stdm:exportchanges: exports for the cadastre and partners.

The core writes the files whole or not at all, with a data dictionary,
and decides what personal data goes out; ``omit`` is the default here as
there. Both write into a folder (made if missing): a GeoPackage export is
``stdm_export.gpkg`` in it, the other formats one file per layer.
"""
from __future__ import annotations

from datetime import date, datetime

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt

from ...core.exchange.changes import CHANGE_KINDS
from ...core.exchange.export import export_changes, export_store
from ...core.exchange.formats import FORMATS
from ...core.exchange.layers import LAYER_CHOICES, LAYERS
from ...core.safety.personal_data import MODES
from ..i18n import tr
from ..store.processing import FeedbackPace, StoreAlgorithm, core_errors

FORMAT_LABELS = {"gpkg": "GeoPackage", "shp": "ESRI Shapefile", "geojson": "GeoJSON",
                 "csv": "CSV (geometry as WKT)"}
MODE_LABELS = {"include": "Include as recorded", "omit": "Omit (names, ID and phone numbers "
               "left out)", "pseudonymise": "Pseudonymise (stable pseudonyms, age for date "
               "of birth)"}
LAYER_LABELS = {"parcels": "Parcels", "structures": "Structures (footprints and points)",
                "parties": "Parties", "tenure": "Social tenure",
                "certificates": "Certificate register"}
#: every layer an export can write, as an output number: PARCELS, STRUCTURE_POINTS, ...
LAYER_OUTPUTS = {spec.name: spec.name.upper() for specs in LAYERS.values() for spec in specs}
OMIT = MODES.index("omit")


class ExportAlgorithm(StoreAlgorithm):
    FORMAT = "FORMAT"
    CRS = "CRS"
    PERSONAL_DATA = "PERSONAL_DATA"
    OVERWRITE = "OVERWRITE"
    OUTPUT = "OUTPUT"
    DICTIONARY = "DICTIONARY"
    FILES = "FILES"
    GROUP = "export"

    def add_format_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterEnum(
            self.FORMAT, tr("Format"), [tr(FORMAT_LABELS[f]) for f in FORMATS],
            defaultValue=0))
        self.add_crs_parameter(self.CRS, tr("CRS of the export (empty: the store's)"))

    def add_output_parameters(self) -> None:
        self.addParameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, tr("Replace files already in the folder"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile(self.DICTIONARY, tr("Data dictionary")))
        self.addOutput(QgsProcessingOutputString(self.FILES, tr("Files written")))

    def add_personal_data_parameter(self) -> None:
        self.addParameter(QgsProcessingParameterEnum(
            self.PERSONAL_DATA, tr("Personal data"), [tr(MODE_LABELS[m]) for m in MODES],
            defaultValue=OMIT))

    def common_options(self, store, parameters: dict, context) -> dict:
        return {"format": FORMATS[self.parameterAsEnum(parameters, self.FORMAT, context)],
                "crs": self.crs_choice(self.CRS, parameters, context),
                "personal_data": MODES[self.parameterAsEnum(parameters, self.PERSONAL_DATA,
                                                            context)],
                "settlement_id": self.settlement_id(store, parameters, context),
                "overwrite": self.parameterAsBool(parameters, self.OVERWRITE, context)}

    def folder(self, parameters: dict, context) -> str:
        folder = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        if not folder:
            raise QgsProcessingException(tr("Choose the output folder ({0}).").format(
                self.OUTPUT))
        return folder

    def written(self, result, folder: str, feedback) -> dict:
        for warning in result.warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo(tr("Wrote {0} file(s) to {1} ({2}, {3}, personal data: {4}).").format(
            len(result.files), folder, result.format, result.crs, result.personal_data))
        feedback.setProgress(100)
        return {self.OUTPUT: folder, self.DICTIONARY: result.dictionary_path,
                self.FILES: ";".join(result.files)}


class ExportStoreAlgorithm(ExportAlgorithm):
    LAYERS = "LAYERS"
    INCLUDE_RETIRED = "INCLUDE_RETIRED"
    PSEUDONYM_KEY = "PSEUDONYM_KEY"

    def name(self) -> str:
        return "exportstore"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Export settlement store")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Exports parcels, structures, parties, social tenure and the certificate "
            "register of a settlement store (one settlement, or all) as GeoPackage, "
            "Shapefile, GeoJSON or CSV, in any EPSG CRS, with a data dictionary (Markdown and "
            "CSV) that explains every field and code.\n\n"
            "Personal data: 'Omit' (the default) leaves out names, dates of birth, ID and "
            "phone numbers; 'Pseudonymise' replaces them with stable pseudonyms, whose secret "
            "key is returned as PSEUDONYM_KEY (give it back to match an earlier export); "
            "'Include' exports them as recorded. Photos and scans are never exported.\n\n"
            "The export appears whole or not at all; existing files are kept unless "
            "'Replace' is ticked.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.add_format_parameters()
        self.addParameter(QgsProcessingParameterEnum(
            self.LAYERS, tr("Layers"), [tr(LAYER_LABELS[n]) for n in LAYER_CHOICES],
            allowMultiple=True, defaultValue=list(range(len(LAYER_CHOICES)))))
        self.add_personal_data_parameter()
        self.add_settlement_parameter()
        retired = QgsProcessingParameterBoolean(
            self.INCLUDE_RETIRED, tr("Include retired records"), defaultValue=False)
        key = QgsProcessingParameterString(
            self.PSEUDONYM_KEY, tr("Pseudonym key (hex) of an earlier export"), optional=True)
        for advanced in (retired, key):
            advanced.setFlags(advanced.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(advanced)
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputString(self.PSEUDONYM_KEY,
                                                 tr("Pseudonym key (keep it secret)")))
        for name, output in LAYER_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(output, tr("Features in {0}").format(
                name)))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        folder = self.folder(parameters, context)
        chosen = self.parameterAsEnums(parameters, self.LAYERS, context)
        layers = [LAYER_CHOICES[i] for i in chosen] or list(LAYER_CHOICES)
        pace.stop_if_cancelled(tr("The export"))
        store = self.open_store(parameters, context, feedback)
        try:
            options = self.common_options(store, parameters, context)
            with core_errors():
                result = export_store(
                    store, folder, layers=layers,
                    include_retired=self.parameterAsBool(parameters, self.INCLUDE_RETIRED,
                                                         context),
                    pseudonym_key=self.parameterAsString(parameters, self.PSEUDONYM_KEY,
                                                         context) or None, **options)
        finally:
            store.close()
        results = self.written(result, folder, feedback)
        if result.pseudonym_key:
            feedback.pushInfo(tr("The pseudonym key is in the output {0}; keep it secret, or "
                                 "throw it away.").format(self.PSEUDONYM_KEY))
        results[self.PSEUDONYM_KEY] = result.pseudonym_key or ""
        results.update({output: result.feature_counts.get(name, 0)
                        for name, output in LAYER_OUTPUTS.items()})
        return results


def since_text(value) -> str:
    """A date or time from a script or model as the ISO 8601 text the core takes (UTC)."""
    if isinstance(value, QDateTime):
        return value.toUTC().toString(Qt.ISODate)
    if isinstance(value, QDate):
        return value.toString(Qt.ISODate)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value or "").strip()


class ExportChangesAlgorithm(ExportAlgorithm):
    SINCE = "SINCE"
    CHANGES = "CHANGES"

    def name(self) -> str:
        return "exportchanges"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Export parcel changes since a date")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Writes the parcels created, modified or retired since a date, what a cadastre "
            "needs to update its copy: one layer, parcel_changes, with the field change "
            "(new, modified or retired), changed_at and, for a modified parcel, the fields "
            "that differ. A parcel created and retired since the date is left out.\n\n"
            "Since: an ISO 8601 date or date-time, e.g. 2026-03-01 or 2026-03-01T08:00:00Z "
            "(UTC unless it says otherwise; a date means its midnight UTC). The counts are "
            "the output numbers NEW, MODIFIED and RETIRED.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.addParameter(QgsProcessingParameterString(
            self.SINCE, tr("Since (ISO 8601 date or date-time, UTC)")))
        self.add_format_parameters()
        self.add_personal_data_parameter()
        self.add_settlement_parameter()
        self.add_output_parameters()
        self.addOutput(QgsProcessingOutputFile(self.CHANGES, tr("Parcel changes file")))
        for kind in CHANGE_KINDS:
            self.addOutput(QgsProcessingOutputNumber(kind.upper(), tr("Parcels {0}").format(
                tr(kind))))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        folder = self.folder(parameters, context)
        raw = parameters.get(self.SINCE)
        since = since_text(raw) if isinstance(raw, (QDateTime, QDate, date)) else \
            self.parameterAsString(parameters, self.SINCE, context).strip()
        if not since:
            raise QgsProcessingException(tr("Give the date the changes are counted from "
                                            "({0}), e.g. 2026-03-01.").format(self.SINCE))
        pace.stop_if_cancelled(tr("The export"))
        store = self.open_store(parameters, context, feedback)
        try:
            options = self.common_options(store, parameters, context)
            with core_errors():
                result = export_changes(store, since, folder, **options)
        finally:
            store.close()
        results = self.written(result, folder, feedback)
        results[self.CHANGES] = next(iter(result.layer_files.values()), "")
        results.update({kind.upper(): result.change_counts.get(kind, 0)
                        for kind in CHANGE_KINDS})
        return results
