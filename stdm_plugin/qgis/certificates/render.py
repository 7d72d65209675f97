"""What the certificate layout draws with: the atlas coverage layer and the map's layers.

The renderer owns every layer it draws: the coverage layer (one feature per
certificate, built from frozen ``CertificateSheet`` values) and a private
copy of the neighbouring parcels. Nothing of the user's project is
restyled, and a later edit of the parcels cannot change a certificate
half-way through a batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGeometry,
    QgsLayoutExporter,
    QgsPalLayerSettings,
    QgsRenderContext,
    QgsRuleBasedRenderer,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
    QgsWkbTypes,
)
from qgis.PyQt.QtGui import QColor, QFont

from ...core.certificates.sheet import CertificateSheet

PHOTO_SLOTS = 4
COVERAGE_FIELDS = (
    ("certificate_number", "string"), ("settlement_code", "string"),
    ("settlement_name", "string"), ("block", "string"), ("parcel_code", "string"),
    ("land_use", "string"), ("area_m2", "double"), ("holders", "string"),
    ("issue_date", "string"), ("issued_by", "string"), ("qr_path", "string"),
) + tuple((f"photo_{n}", "string") for n in range(1, PHOTO_SLOTS + 1))
NEIGHBOUR_LABEL_FIELDS = ("code", "parcel_code")  # the store's parcel layer calls it "code"
CURRENT_FEATURE = "$id = @atlas_featureid"


@dataclass(frozen=True)
class SheetFiles:
    """The files one sheet points at: its QR code (written for it) and holder photos."""

    qr_path: str
    photos: tuple[str, ...]


def coverage_layer(srid: int) -> QgsVectorLayer:
    """An empty memory layer with the fields the templates' expressions read."""
    if not QgsCoordinateReferenceSystem.fromEpsgId(srid).isValid():
        raise ValueError(f"EPSG:{srid} is not a coordinate reference system QGIS knows")
    fields = "&".join(f"field={name}:{kind}" for name, kind in COVERAGE_FIELDS)
    layer = QgsVectorLayer(f"MultiPolygon?crs=EPSG:{srid}&{fields}", "certificates", "memory")
    _style_coverage(layer)
    return layer


def sheet_geometry(sheet: CertificateSheet) -> QgsGeometry:
    geometry = QgsGeometry()
    geometry.fromWkb(bytes(sheet.parcel_wkb))
    if geometry.isNull() or geometry.type() != QgsWkbTypes.PolygonGeometry:
        raise ValueError(f"certificate {sheet.number}: the parcel geometry is not a polygon")
    geometry.convertToMultiType()
    return geometry


def sheet_feature(layer: QgsVectorLayer, sheet: CertificateSheet,
                  files: SheetFiles) -> QgsFeature:
    feature = QgsFeature(layer.fields())
    feature.setGeometry(sheet_geometry(sheet))
    photos = list(files.photos[:PHOTO_SLOTS]) + [""] * PHOTO_SLOTS
    values = {
        "certificate_number": sheet.number, "settlement_code": sheet.settlement_code,
        "settlement_name": sheet.settlement_name, "block": sheet.block,
        "parcel_code": sheet.parcel_code, "land_use": sheet.land_use,
        "area_m2": float(sheet.area_m2), "holders": sheet.holders_text,
        "issue_date": sheet.issue_date, "issued_by": sheet.issued_by,
        "qr_path": files.qr_path,
    }
    values.update({f"photo_{n}": photos[n - 1] for n in range(1, PHOTO_SLOTS + 1)})
    for name, value in values.items():
        feature.setAttribute(name, value)
    return feature


def neighbours_copy(layer: QgsVectorLayer | None) -> QgsVectorLayer | None:
    """A private memory copy of the neighbouring parcels, styled for the certificate map."""
    if layer is None:
        return None
    if not layer.isValid():
        raise ValueError(f"the neighbours layer {layer.name()!r} is not valid")
    copy = layer.materialize(QgsFeatureRequest())
    copy.setName("neighbours")
    copy.setRenderer(QgsRuleBasedRenderer(_neighbour_symbol()))
    names = copy.fields().names()
    code = next((name for name in NEIGHBOUR_LABEL_FIELDS if name in names), None)
    if code:  # the certified parcel is labelled by the coverage layer, in bold
        _label(copy, f"""CASE WHEN "{code}" IS NOT attribute(@atlas_feature, 'parcel_code')
                          THEN "{code}" END""", 6.5, "#4a5563", bold=False)
    return copy


def pdf_settings() -> QgsLayoutExporter.PdfExportSettings:
    """Text stays text (searchable, copyable, read by pdftotext); nothing is rasterised."""
    settings = QgsLayoutExporter.PdfExportSettings()
    settings.rasterizeWholeImage = False
    settings.forceVectorOutput = False
    settings.exportMetadata = True
    settings.textRenderFormat = _always_text()
    return settings


def _always_text():
    text_format = getattr(Qgis, "TextRenderFormat", None)
    if text_format is not None and hasattr(text_format, "AlwaysText"):
        return text_format.AlwaysText
    return QgsRenderContext.TextFormatAlwaysText


def _neighbour_symbol() -> QgsFillSymbol:
    return QgsFillSymbol.createSimple({
        "color": "#f1f2f4", "outline_color": "#4a5563", "outline_width": "0.25"})


def _style_coverage(layer: QgsVectorLayer) -> None:
    """The certificate's own parcel stands out; other sheets' parcels look like neighbours."""
    root = QgsRuleBasedRenderer.Rule(None)
    certified = QgsFillSymbol.createSimple({
        "color": "#d9a441", "outline_color": "#7a1f12", "outline_width": "0.7",
        "joinstyle": "miter"})
    root.appendChild(QgsRuleBasedRenderer.Rule(certified, 0, 0, CURRENT_FEATURE))
    root.appendChild(QgsRuleBasedRenderer.Rule(_neighbour_symbol(), 0, 0, "ELSE"))
    layer.setRenderer(QgsRuleBasedRenderer(root))
    _label(layer, f'CASE WHEN {CURRENT_FEATURE} THEN "parcel_code" END', 8, "#3b0f08",
           bold=True, priority=10)


def _label(layer: QgsVectorLayer, expression: str, size: float, colour: str,
           bold: bool, priority: int = 5) -> None:
    settings = QgsPalLayerSettings()
    settings.priority = priority
    settings.fieldName = expression
    settings.isExpression = True
    settings.placement = QgsPalLayerSettings.OverPoint
    text = QgsTextFormat()
    qfont = QFont("Sans Serif")
    qfont.setBold(bold)
    text.setFont(qfont)
    text.setSize(size)
    text.setColor(QColor(colour))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(0.7)
    buffer.setColor(QColor("white"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
