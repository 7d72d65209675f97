"""A map tool that digitises a point, line or polygon for a geo question.

The enumerator clicks the corners on the canvas: left click adds a corner
(snapped when QGIS snapping is on), right click, double click or Enter
finishes, Backspace takes the last corner back, Esc gives up. The shape
comes out in the canvas CRS; the answer widget moves it into the store's.
"""
from __future__ import annotations

from qgis.core import QgsGeometry, QgsPointXY, QgsWkbTypes
from qgis.gui import QgsMapCanvas, QgsMapMouseEvent, QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor, QKeyEvent

BAND_TYPES = {"point": QgsWkbTypes.PointGeometry, "line": QgsWkbTypes.LineGeometry,
              "polygon": QgsWkbTypes.PolygonGeometry}
MINIMUM_POINTS = {"point": 1, "line": 2, "polygon": 3}
KINDS = {"geopoint": "point", "geotrace": "line", "geoshape": "polygon"}
LINE_COLOUR = QColor(214, 39, 40)
FILL_COLOUR = QColor(214, 39, 40, 50)


def rubber_band(canvas: QgsMapCanvas, kind: str) -> QgsRubberBand:
    band = QgsRubberBand(canvas, BAND_TYPES[kind])
    band.setStrokeColor(LINE_COLOUR)
    band.setFillColor(FILL_COLOUR)
    band.setWidth(2)
    return band


def remove_band(canvas: QgsMapCanvas | None, band: QgsRubberBand | None) -> None:
    """Rubber bands live in the canvas scene until taken out of it."""
    if canvas is not None and band is not None and band.scene() is not None:
        canvas.scene().removeItem(band)


class ShapeCaptureTool(QgsMapTool):
    captured = pyqtSignal(QgsGeometry)  # in the canvas CRS
    cancelled = pyqtSignal()

    def __init__(self, canvas: QgsMapCanvas, kind: str = "polygon") -> None:
        super().__init__(canvas)
        self.kind = kind
        self.points: list[QgsPointXY] = []
        self.band = rubber_band(canvas, kind)
        self.setCursor(Qt.CrossCursor)

    # --- what the mouse and keys do -----------------------------------------
    def canvasMoveEvent(self, event: QgsMapMouseEvent) -> None:
        if self.points:
            self._show(self.points + [event.snapPoint()])

    def canvasReleaseEvent(self, event: QgsMapMouseEvent) -> None:
        if event.button() == Qt.RightButton:
            self.finish()
        elif event.button() == Qt.LeftButton:
            self.add_point(event.snapPoint())

    def canvasDoubleClickEvent(self, event: QgsMapMouseEvent) -> None:
        self.finish()  # the first click of the pair already added the corner

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key_Escape:
            self.cancel()
        elif event.key() in (Qt.Key_Backspace, Qt.Key_Delete) and self.points:
            self.points.pop()
            self._show(self.points)
        elif event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self.finish()
        else:
            event.ignore()
            return
        event.accept()

    def deactivate(self) -> None:
        self.points = []
        self.band.reset(BAND_TYPES[self.kind])
        super().deactivate()

    # --- the work, callable without a mouse -----------------------------------
    def add_point(self, point: QgsPointXY) -> None:
        if self.points and self.points[-1] == point:
            return  # the second release of a double click
        self.points.append(QgsPointXY(point))
        self._show(self.points)
        if self.kind == "point":
            self.finish()

    def finish(self) -> bool:
        """Hand over the shape; too few corners keeps the tool drawing."""
        if len(self.points) < MINIMUM_POINTS[self.kind]:
            return False
        geometry = self.geometry(self.points)
        self.points = []
        self.band.reset(BAND_TYPES[self.kind])
        self.captured.emit(geometry)
        return True

    def cancel(self) -> None:
        self.points = []
        self.band.reset(BAND_TYPES[self.kind])
        self.cancelled.emit()

    def geometry(self, points: list[QgsPointXY]) -> QgsGeometry:
        if self.kind == "point":
            return QgsGeometry.fromPointXY(points[0])
        if self.kind == "line":
            return QgsGeometry.fromPolylineXY(points)
        ring = list(points) if points[0] == points[-1] else [*points, points[0]]
        return QgsGeometry.fromPolygonXY([ring])

    def _show(self, points: list[QgsPointXY]) -> None:
        self.band.reset(BAND_TYPES[self.kind])
        for index, point in enumerate(points):
            self.band.addPoint(point, index == len(points) - 1)
