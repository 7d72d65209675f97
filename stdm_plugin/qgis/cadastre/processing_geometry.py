"""stdm:checkgeometry: the geometry check of a settlement store as a Processing algorithm.

Every finding becomes a point (where to zoom to) in OUTPUT and, when it
has an area (an overlap, a gap, the part of a parcel outside its
settlement, an invalid polygon...), a polygon in AREAS, with the same
attributes. The number of findings of each kind comes back as an output
number named after the kind, so a model can branch on "no overlaps".
"""
from __future__ import annotations

import shapely
from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ...core.cadastre.geometry_check import check_geometry
from ...core.cadastre.geometry_findings import KIND_LABELS, GeometryFinding
from ..i18n import tr
from ..store.processing import (
    FeedbackPace,
    StoreAlgorithm,
    core_errors,
    crs_of,
    geometry_from_wkb,
    joined,
)

FIELDS = (("kind", QVariant.String), ("table", QVariant.String),
          ("record_codes", QVariant.String), ("record_ids", QVariant.String),
          ("detail", QVariant.String), ("area_m2", QVariant.Double))
#: output number per kind of finding: INVALID_GEOMETRY, OVERLAP, DUPLICATE, GAP, ...
COUNT_OUTPUTS = {kind: kind.upper() for kind in KIND_LABELS}


def finding_fields() -> QgsFields:
    fields = QgsFields()
    for name, kind in FIELDS:
        fields.append(QgsField(name, kind))
    return fields


def polygonal_wkb(shape) -> bytes | None:
    """The polygons of a finding's shape as one MultiPolygon (kept as drawn, even invalid)."""
    if shape is None or shape.is_empty:
        return None
    parts = [p for p in shapely.get_parts(shape) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts).wkb if parts else None


class CheckGeometryAlgorithm(StoreAlgorithm):
    OVERLAP_TOLERANCE = "OVERLAP_TOLERANCE"
    GAP_TOLERANCE = "GAP_TOLERANCE"
    STRUCTURE_TOLERANCE = "STRUCTURE_TOLERANCE"
    OUTPUT = "OUTPUT"
    AREAS = "AREAS"
    FINDINGS = "FINDINGS"
    PARCELS_CHECKED = "PARCELS_CHECKED"
    STRUCTURES_CHECKED = "STRUCTURES_CHECKED"
    GROUP = "quality"

    def name(self) -> str:
        return "checkgeometry"

    def displayName(self) -> str:  # noqa: N802 - Processing's hook
        return tr("Check geometry")

    def shortHelpString(self) -> str:  # noqa: N802
        return tr(
            "Checks the parcels and structures of a settlement store (one settlement, or all) "
            "and lists what a cadastre should not hold: invalid geometries, overlapping and "
            "duplicate parcels, gaps between parcels inside the settlement boundary (up to "
            "the gap tolerance; larger empty land is roads or open space), parcels outside "
            "their settlement and structures outside any parcel.\n\n"
            "Points: one per problem, where to look. Areas (optional): the overlap, gap or "
            "part outside itself. Fields: kind, table, record_codes, record_ids, detail (what "
            "is wrong), area_m2. The count of each kind is an output number (OVERLAP, GAP...)."
            "\n\nThe store is only read; nothing is changed.")

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_store_parameter()
        self.add_settlement_parameter()
        for name, text, default in (
                (self.OVERLAP_TOLERANCE, tr("Overlap tolerance (m²)"), 0.5),
                (self.GAP_TOLERANCE, tr("Largest gap reported (m²)"), 25.0),
                (self.STRUCTURE_TOLERANCE,
                 tr("Structure may cross its parcel line by (m)"), 0.25)):
            self.addParameter(QgsProcessingParameterNumber(
                name, text, QgsProcessingParameterNumber.Double, default, minValue=0.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, tr("Geometry problems (points)"), QgsProcessing.TypeVectorPoint))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.AREAS, tr("Geometry problems (areas)"), QgsProcessing.TypeVectorPolygon,
            optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(self.FINDINGS, tr("Problems found")))
        self.addOutput(QgsProcessingOutputNumber(self.PARCELS_CHECKED, tr("Parcels checked")))
        self.addOutput(QgsProcessingOutputNumber(self.STRUCTURES_CHECKED,
                                                 tr("Structures checked")))
        for kind, output in COUNT_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(output,
                                                     tr(KIND_LABELS[kind].capitalize())))

    def processAlgorithm(self, parameters, context, feedback) -> dict:  # noqa: N802
        pace = FeedbackPace(feedback)
        pace.stop_if_cancelled(tr("The geometry check"))
        store = self.open_store(parameters, context, feedback)
        try:
            settlement_id = self.settlement_id(store, parameters, context)
            with core_errors():
                report = check_geometry(
                    store, settlement_id,
                    overlap_tolerance_m2=self.parameterAsDouble(
                        parameters, self.OVERLAP_TOLERANCE, context),
                    gap_tolerance_m2=self.parameterAsDouble(parameters, self.GAP_TOLERANCE,
                                                            context),
                    structure_tolerance_m=self.parameterAsDouble(
                        parameters, self.STRUCTURE_TOLERANCE, context),
                    progress=pace.progress, is_cancelled=pace.is_cancelled)
            crs = crs_of(store)
        finally:
            store.close()
        fields = finding_fields()
        points, points_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields,
                                                 QgsWkbTypes.Point, crs)
        if points is None:
            raise self.invalidSinkError(parameters, self.OUTPUT)
        areas, areas_id = self.parameterAsSink(parameters, self.AREAS, context, fields,
                                               QgsWkbTypes.MultiPolygon, crs)
        for finding in report.findings:
            attributes = self.attributes(finding)
            points.addFeature(self.feature(fields, attributes, finding.location_wkb),
                              QgsFeatureSink.FastInsert)
            shape = polygonal_wkb(finding.geometry)
            if areas is not None and shape is not None:
                areas.addFeature(self.feature(fields, attributes, shape),
                                 QgsFeatureSink.FastInsert)
        for note in report.notes:
            feedback.pushWarning(note)
        feedback.pushInfo(report.summary())
        counts = report.counts()
        results = {self.OUTPUT: points_id, self.FINDINGS: len(report.findings),
                   self.PARCELS_CHECKED: report.parcels_checked,
                   self.STRUCTURES_CHECKED: report.structures_checked,
                   **{output: counts.get(kind, 0) for kind, output in COUNT_OUTPUTS.items()}}
        if areas is not None:
            results[self.AREAS] = areas_id
        return results

    @staticmethod
    def attributes(finding: GeometryFinding) -> list:
        return [finding.kind, finding.table, joined(finding.record_codes),
                joined(finding.record_ids), finding.message, finding.area_m2]

    @staticmethod
    def feature(fields: QgsFields, attributes: list, wkb: bytes) -> QgsFeature:
        feature = QgsFeature(fields)
        feature.setAttributes(attributes)
        feature.setGeometry(geometry_from_wkb(wkb))
        return feature
