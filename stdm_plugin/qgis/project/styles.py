"""Default symbology: readable on a satellite image and in black-and-white print."""
from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsRendererCategory,
    QgsTextBufferSettings,
    QgsTextFormat,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)
from qgis.PyQt.QtGui import QColor, QFont

LAND_USE_COLOURS = {
    "residential": "#f2d49b", "commercial": "#e38b6f", "mixed": "#e9b872",
    "religious": "#b49fcc", "community": "#8fc1d4", "agricultural": "#a9cf86",
    "vacant": "#dddddd",
}


def style_layers(layers: dict[str, QgsVectorLayer], land_use_labels: dict[str, str]) -> None:
    _settlements(layers["settlements"])
    _parcels(layers["parcels"], land_use_labels)
    structures = layers["structures"]
    structures.renderer().setSymbol(QgsFillSymbol.createSimple({
        "color": "#c0603a", "outline_color": "#5b2a14", "outline_width": "0.3"}))
    points = layers["structure_points"]
    points.renderer().setSymbol(QgsMarkerSymbol.createSimple({
        "name": "square", "color": "#c0603a", "outline_color": "#5b2a14", "size": "2.4"}))
    for layer in layers.values():
        layer.triggerRepaint()


def _settlements(layer: QgsVectorLayer) -> None:
    layer.renderer().setSymbol(QgsFillSymbol.createSimple({
        "style": "no", "outline_color": "#7a1f5c", "outline_width": "0.8",
        "outline_style": "dash"}))
    _label(layer, '"name"', 10, "#7a1f5c")


def _parcels(layer: QgsVectorLayer, land_use_labels: dict[str, str]) -> None:
    categories = []
    for code, colour in LAND_USE_COLOURS.items():
        symbol = QgsFillSymbol.createSimple({
            "color": colour, "outline_color": "#4d3b2a", "outline_width": "0.35"})
        categories.append(QgsRendererCategory(code, symbol, land_use_labels.get(code, code)))
    other = QgsFillSymbol.createSimple({"color": "#ffffff", "outline_color": "#4d3b2a",
                                        "outline_width": "0.35"})
    categories.append(QgsRendererCategory(None, other, "—"))
    layer.setRenderer(QgsCategorizedSymbolRenderer("land_use", categories))
    layer.setOpacity(0.85)
    _label(layer, '"code"', 7, "#2b2118", min_scale=5000)


def _label(layer: QgsVectorLayer, expression: str, size: float, colour: str,
           min_scale: float = 0) -> None:
    settings = QgsPalLayerSettings()
    settings.fieldName = expression
    settings.isExpression = True
    text = QgsTextFormat()
    text.setFont(QFont("Sans Serif"))
    text.setSize(size)
    text.setColor(QColor(colour))
    buffer = QgsTextBufferSettings()
    buffer.setEnabled(True)
    buffer.setSize(0.8)
    buffer.setColor(QColor("white"))
    text.setBuffer(buffer)
    settings.setFormat(text)
    if min_scale:
        settings.scaleVisibility = True
        settings.minimumScale = min_scale
        settings.maximumScale = 1
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
