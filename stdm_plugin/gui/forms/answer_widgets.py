"""One widget per question type, so that a form declared as data becomes a form on screen.

Each widget hands back its answer in the form the core's
``check_enumeration`` and ``save_enumeration`` expect: text, int, float,
an ISO date string, a code (or list of codes) of a code list, a
``(file name, bytes)`` pair for a photo, a shapely geometry in the store's
CRS for a geo question, and ``None`` when unanswered. They hold no rules:
whether an answer is acceptable is the core's to say.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDistanceArea,
    QgsGeometry,
    QgsProject,
)
from qgis.gui import QgsDateEdit, QgsFileWidget, QgsMapCanvas
from qgis.PyQt.QtCore import QDate, QRegularExpression, Qt, pyqtSignal
from qgis.PyQt.QtGui import QRegularExpressionValidator
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.forms.forms import Question
from ...qgis.forms.rules import text_in
from ...qgis.i18n import tr
from .shape_tool import KINDS, ShapeCaptureTool, remove_band, rubber_band

PHOTO_FILTER = "Images (*.jpg *.jpeg *.png *.tif *.tiff *.heic *.webp);;All files (*)"


@dataclass
class AnswerContext:
    """What widgets need from outside: language, code lists, the map and the store's CRS."""

    lang: str
    labels: Callable[[str], dict[str, str]]  # code list category -> {code: label}
    canvas: QgsMapCanvas | None = None
    crs: QgsCoordinateReferenceSystem | None = None


class AnswerWidget(QWidget):
    """``editor`` is the Qt widget the enumerator types in (tests drive it directly)."""

    changed = pyqtSignal()
    takes_hint_as_placeholder = False

    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__()
        self.question = question
        self.context = context
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def set_hint(self, hint: str) -> None:
        self.setToolTip(hint)

    def release(self) -> None:
        """Take back whatever was lent to the map (tools, rubber bands)."""


class TextAnswer(AnswerWidget):
    takes_hint_as_placeholder = True
    pattern: str | None = None

    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QLineEdit()
        if self.pattern:
            self.editor.setValidator(QRegularExpressionValidator(QRegularExpression(self.pattern),
                                                                 self.editor))
        self.editor.textChanged.connect(self.changed)
        self.layout_.addWidget(self.editor)

    def set_hint(self, hint: str) -> None:
        super().set_hint(hint)
        self.editor.setPlaceholderText(hint)

    def text(self) -> str:
        return self.editor.text().strip()

    def value(self) -> Any:
        return self.text() or None

    def set_value(self, value: Any) -> None:
        self.editor.setText("" if value is None else str(value))


class IntegerAnswer(TextAnswer):
    pattern = r"-?\d{0,9}"

    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor.setMaximumWidth(140)
        self.layout_.addStretch()

    def value(self) -> int | None:
        return int(self.text()) if self.text() not in ("", "-") else None


class DecimalAnswer(IntegerAnswer):
    pattern = r"-?\d{0,12}([.,]\d{0,9})?"

    def value(self) -> float | None:
        text = self.text().replace(",", ".")
        return float(text) if text not in ("", "-", ".", "-.") else None


class DateAnswer(AnswerWidget):
    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QgsDateEdit()
        self.editor.setAllowNull(True)
        self.editor.setNullRepresentation("")
        self.editor.setDisplayFormat("yyyy-MM-dd")
        self.editor.setCalendarPopup(True)
        self.editor.setMaximumWidth(180)
        self.editor.clear()
        self.editor.dateValueChanged.connect(self.changed)
        self.layout_.addWidget(self.editor)
        self.layout_.addStretch()

    def value(self) -> str | None:
        if self.editor.isNull() or not self.editor.date().isValid():
            return None
        return self.editor.date().toString("yyyy-MM-dd")

    def set_value(self, value: Any) -> None:
        if value in (None, ""):
            self.editor.clear()
        else:
            self.editor.setDate(QDate.fromString(str(value), "yyyy-MM-dd"))


class SelectOneAnswer(AnswerWidget):
    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QComboBox()
        self.editor.addItem("", None)
        for code, label in context.labels(question.choices or "").items():
            self.editor.addItem(label, code)
        self.editor.currentIndexChanged.connect(self.changed)
        self.layout_.addWidget(self.editor)

    def value(self) -> str | None:
        return self.editor.currentData()

    def set_value(self, value: Any) -> None:
        self.editor.setCurrentIndex(max(0, self.editor.findData(value)))


class SelectMultipleAnswer(AnswerWidget):
    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QListWidget()
        for code, label in context.labels(question.choices or "").items():
            item = QListWidgetItem(label)
            item.setData(Qt.UserRole, code)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Unchecked)
            self.editor.addItem(item)
        rows = min(self.editor.count(), 6)
        self.editor.setFixedHeight(self.editor.sizeHintForRow(0) * rows + 6)
        self.editor.itemChanged.connect(self.changed)
        self.layout_.addWidget(self.editor)

    def _items(self) -> list[QListWidgetItem]:
        return [self.editor.item(row) for row in range(self.editor.count())]

    def value(self) -> list[str] | None:
        chosen = [i.data(Qt.UserRole) for i in self._items() if i.checkState() == Qt.Checked]
        return chosen or None

    def set_value(self, value: Any) -> None:
        wanted = set(value or [])
        for item in self._items():
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in wanted else Qt.Unchecked)


class PhotoAnswer(AnswerWidget):
    """Reads the file when it is chosen, so a file that cannot be read is said at once."""

    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QgsFileWidget()
        self.editor.setStorageMode(QgsFileWidget.GetFile)
        self.editor.setFilter(tr(PHOTO_FILTER))
        self.editor.setDialogTitle(text_in(question.label, context.lang))
        self.editor.fileChanged.connect(self._read)
        self.status = QLabel()
        self.status.setStyleSheet("color: palette(mid);")
        self._photo: tuple[str, bytes] | None = None
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.editor)
        column.addWidget(self.status)
        self.status.hide()
        self.layout_.addLayout(column)

    def _read(self, path: str) -> None:
        self._photo = None
        path = path.strip()
        message = ""
        if path:
            try:
                with open(path, "rb") as handle:
                    self._photo = (os.path.basename(path), handle.read())
                message = tr("{0} KB").format(max(1, round(len(self._photo[1]) / 1024)))
            except OSError as error:
                message = tr("The file cannot be read: {0}").format(error.strerror or error)
        self.status.setText(message)
        self.status.setVisible(bool(message))
        self.changed.emit()

    def value(self) -> tuple[str, bytes] | None:
        return self._photo

    def set_value(self, value: Any) -> None:
        self._photo = tuple(value) if value else None  # type: ignore[assignment]
        self.editor.blockSignals(True)
        self.editor.setFilePath(value[0] if value else "")
        self.editor.blockSignals(False)
        self.changed.emit()


class ShapeAnswer(AnswerWidget):
    """Draws on the canvas; the answer is a shapely geometry in the store's CRS,
    and stays shown on the map while the wizard is open."""

    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.kind = KINDS[question.type]
        self.editor = QPushButton(tr("Draw on the map"))
        self.editor.setEnabled(context.canvas is not None)
        self.editor.clicked.connect(self.start)
        self.clear_button = QPushButton(tr("Clear"))
        self.clear_button.clicked.connect(lambda: self.set_value(None))
        self.status = QLabel(tr("Not drawn yet"))
        self.status.setWordWrap(True)
        self.tool: ShapeCaptureTool | None = None
        self._previous_tool = None
        self._shape = None
        self._band = None
        for widget in (self.editor, self.clear_button):
            self.layout_.addWidget(widget)
        self.layout_.addWidget(self.status, 1)

    def start(self) -> ShapeCaptureTool:
        """Lend a capture tool to the canvas until the shape is finished or given up."""
        canvas = self.context.canvas
        if self.tool is None:
            self.tool = ShapeCaptureTool(canvas, self.kind)
            self.tool.captured.connect(self.set_canvas_geometry)
            self.tool.cancelled.connect(self._stop)
        if canvas.mapTool() is not self.tool:
            self._previous_tool = canvas.mapTool()
            canvas.setMapTool(self.tool)
        self.status.setText(tr("Click the corners on the map; right-click or double-click to "
                               "finish, Backspace to undo, Esc to stop."))
        return self.tool

    def _stop(self) -> None:
        canvas = self.context.canvas
        if self.tool is not None and canvas.mapTool() is self.tool:
            if self._previous_tool is not None:
                canvas.setMapTool(self._previous_tool)
            else:
                canvas.unsetMapTool(self.tool)
        self._show()

    def set_canvas_geometry(self, geometry: QgsGeometry) -> None:
        """A shape drawn in the canvas CRS becomes an answer in the store's CRS."""
        from shapely import wkb

        geometry = QgsGeometry(geometry)
        source = self.context.canvas.mapSettings().destinationCrs()
        if self.context.crs is not None and source != self.context.crs:
            geometry.transform(QgsCoordinateTransform(source, self.context.crs,
                                                      QgsProject.instance()))
        self._shape = wkb.loads(bytes(geometry.asWkb()))
        self._stop()
        self.changed.emit()

    def value(self) -> Any:
        return self._shape

    def set_value(self, value: Any) -> None:
        self._shape = value
        self._show()
        self.changed.emit()

    def _show(self) -> None:
        canvas = self.context.canvas
        if self._shape is None:
            self.status.setText(tr("Not drawn yet"))
            remove_band(canvas, self._band)
            self._band = None
            return
        geometry = QgsGeometry()
        geometry.fromWkb(self._shape.wkb)
        self.status.setText(self._describe(geometry))
        if canvas is not None:
            if self._band is None:
                self._band = rubber_band(canvas, self.kind)
            self._band.setToGeometry(geometry, self.context.crs or QgsCoordinateReferenceSystem())

    def _describe(self, geometry: QgsGeometry) -> str:
        if self.kind != "polygon" or self.context.crs is None:
            return tr("Drawn")
        measure = QgsDistanceArea()
        measure.setSourceCrs(self.context.crs, QgsProject.instance().transformContext())
        measure.setEllipsoid("EPSG:7030")
        corners = len(list(geometry.vertices())) - 1
        return tr("Drawn: {0} corners, {1:.0f} m²").format(corners,
                                                            measure.measureArea(geometry))

    def release(self) -> None:
        if self.context.canvas is not None:
            self._stop()
            remove_band(self.context.canvas, self._band)
            self._band = None
            if self.tool is not None:
                remove_band(self.context.canvas, self.tool.band)


class NoteAnswer(AnswerWidget):
    def __init__(self, question: Question, context: AnswerContext) -> None:
        super().__init__(question, context)
        self.editor = QLabel(text_in(question.label, context.lang))
        self.editor.setWordWrap(True)
        self.layout_.addWidget(self.editor)

    def value(self) -> None:
        return None

    def set_value(self, value: Any) -> None:
        pass


WIDGETS: dict[str, type[AnswerWidget]] = {
    "text": TextAnswer, "integer": IntegerAnswer, "decimal": DecimalAnswer, "date": DateAnswer,
    "select_one": SelectOneAnswer, "select_multiple": SelectMultipleAnswer,
    "photo": PhotoAnswer, "geopoint": ShapeAnswer, "geotrace": ShapeAnswer,
    "geoshape": ShapeAnswer, "note": NoteAnswer,
}


def answer_widget(question: Question, context: AnswerContext) -> AnswerWidget | None:
    """The widget of a question; None for what is not asked (calculate)."""
    kind = WIDGETS.get(question.type)
    return kind(question, context) if kind else None
