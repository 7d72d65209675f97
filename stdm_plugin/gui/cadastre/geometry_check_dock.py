"""The "Geometry problems" dock: the findings of a geometry check, one row each.

A row clicked (or reached with Previous/Next) zooms the map to the problem
and selects it, with the parcels and structures it names, so that the
officer sees both sides of an overlap at once. "Fix…" offers the core's safe
repair for the finding, if there is one, and shows exactly what it would
change (a preview the core computes and rolls back) before anything is
written. The dock holds no rule of its own: the checks and repairs are the
core's, the layers are made by qgis/cadastre/geometry_task.py, and the plugin
(CadastreActions) opens the store for each preview and repair.
"""
from __future__ import annotations

from typing import Callable, Optional

from qgis.core import (
    QgsCoordinateTransform,
    QgsExpression,
    QgsGeometry,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsMapCanvas
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.cadastre.geometry_findings import GeometryFinding, GeometryReport
from ...core.cadastre.geometry_fix import MAX_SNAP_TOLERANCE_M
from ...core.store.errors import StdmError
from ...qgis.cadastre.geometry_task import (
    MAKE_VALID,
    REPAIRS,
    SNAP,
    RepairPreview,
    RepairRequest,
    kind_names,
)
from ...qgis.i18n import tr

PROBLEM_STYLE = "color: #a94442;"
#: the smallest piece of map a finding is shown in (metres; degrees for a geographic CRS)
MIN_VIEW = {False: 30.0, True: 0.0003}
Preview = Callable[[RepairRequest], RepairPreview]


class GeometryCheckDock(QgsDockWidget):
    """Findings table, filter, stepping and Fix…; ``check`` and ``apply`` are the plugin's."""

    def __init__(self, store_label: str, settlements: list[tuple[str, str]],
                 canvas: QgsMapCanvas, check: Callable[[Optional[str]], object],
                 preview: Preview, apply: Callable[[RepairRequest], bool],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(tr("Geometry problems — {0}").format(store_label), parent)
        self.setObjectName("stdmGeometryCheckDock")
        self.store_label, self.canvas = store_label, canvas
        self._check, self._preview, self._apply = check, preview, apply
        self.report: Optional[GeometryReport] = None
        self.layers: list[QgsVectorLayer] = []
        self.store_layers: dict[str, QgsVectorLayer] = {}
        body = QWidget()
        layout = QVBoxLayout(body)
        top = QHBoxLayout()
        self.settlement = QComboBox()
        self.settlement.addItem(tr("All settlements"), None)
        for settlement_id, label in settlements:
            self.settlement.addItem(label, settlement_id)
        if len(settlements) == 1:
            self.settlement.setCurrentIndex(1)
        self.check_button = QPushButton(tr("Check"))
        self.check_button.setToolTip(tr("Check the parcels and structures again"))
        self.check_button.clicked.connect(lambda: self._check(self.settlement_id()))
        top.addWidget(QLabel(tr("Settlement")))
        top.addWidget(self.settlement, 1)
        top.addWidget(self.check_button)
        layout.addLayout(top)
        self.progress = QProgressBar()
        self.progress.hide()
        layout.addWidget(self.progress)
        self.summary = QLabel(tr("Not checked yet."))
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        filters = QHBoxLayout()
        self.kind_filter = QComboBox()
        self.kind_filter.addItem(tr("Every kind"), None)
        self.kind_filter.currentIndexChanged.connect(self._filter)
        filters.addWidget(QLabel(tr("Show")))
        filters.addWidget(self.kind_filter, 1)
        layout.addLayout(filters)
        self.table = self._findings_table()
        layout.addWidget(self.table, 1)
        self.detail = QLabel()  # the chosen finding in full: the table cuts long texts
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.detail)
        layout.addLayout(self._buttons())
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.hide()
        layout.addWidget(self.notes)
        self.setWidget(body)
        self._enable()

    def _findings_table(self) -> QTableWidget:
        table = QTableWidget(0, 4)
        table.setHorizontalHeaderLabels([tr("Kind"), tr("Records"), tr("Area (m²)"),
                                         tr("Detail")])
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setSelectionMode(QAbstractItemView.SingleSelection)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.verticalHeader().hide()
        table.setWordWrap(False)
        header = table.horizontalHeader()
        for column in (0, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Interactive)  # a gap can name ten parcels
        header.resizeSection(1, 170)
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        table.itemSelectionChanged.connect(self._row_chosen)
        return table

    def _buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.previous_button = QPushButton(tr("◀ Previous"))
        self.next_button = QPushButton(tr("Next ▶"))
        self.fix_button = QPushButton(tr("Fix…"))
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.fix_button.clicked.connect(self.fix_current)
        row.addWidget(self.previous_button)
        row.addWidget(self.next_button)
        row.addStretch(1)
        row.addWidget(self.fix_button)
        return row

    # --- what the plugin tells the dock ---------------------------------------------------
    def settlement_id(self) -> Optional[str]:
        return self.settlement.currentData()

    def checking(self, task) -> None:
        """A check started: show its progress until show_report or check_failed."""
        self.check_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self.summary.setText(tr("Checking…"))
        task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))

    def check_failed(self, message: str) -> None:
        self.progress.hide()
        self.check_button.setEnabled(True)
        self.summary.setText(message)
        self.summary.setStyleSheet(PROBLEM_STYLE)

    def show_report(self, report: GeometryReport, summary: str, layers: list[QgsVectorLayer],
                    store_layers: dict[str, QgsVectorLayer], keep_row: int = -1) -> None:
        """Fill the table; ``keep_row`` selects (and zooms to) the row nearest that one."""
        self.report, self.layers, self.store_layers = report, layers, store_layers
        self.progress.hide()
        self.check_button.setEnabled(True)
        self.summary.setStyleSheet("")
        self.summary.setText(summary)
        self.notes.setText("\n".join(report.notes))
        self.notes.setVisible(bool(report.notes))
        names = kind_names()
        chosen = self.kind_filter.currentData()
        self.kind_filter.blockSignals(True)
        self.kind_filter.clear()
        self.kind_filter.addItem(tr("Every kind ({0})").format(len(report.findings)), None)
        for kind, count in report.counts().items():
            self.kind_filter.addItem(f"{names[kind][1].capitalize()} ({count})", kind)
        self.kind_filter.setCurrentIndex(max(0, self.kind_filter.findData(chosen)))
        self.kind_filter.blockSignals(False)
        self.detail.setText("")
        self.table.blockSignals(True)
        self.table.clearContents()
        self.table.setRowCount(len(report.findings))
        for row, finding in enumerate(report.findings):
            area = "" if finding.area_m2 is None else f"{finding.area_m2:,.2f}"
            for column, text in enumerate((names[finding.kind][0].capitalize(),
                                           ", ".join(finding.record_codes), area,
                                           finding.message)):
                item = QTableWidgetItem(text)
                item.setToolTip(finding.message)
                if column == 2:
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        self._filter()
        visible = self.visible_rows()
        if keep_row >= 0 and visible:
            self.select_row(min(visible, key=lambda r: abs(r - keep_row)))
        self._enable()

    # --- moving through the findings -----------------------------------------------------
    def visible_rows(self) -> list[int]:
        return [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]

    def current_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def current_finding(self) -> Optional[GeometryFinding]:
        row = self.current_row()
        return self.report.findings[row] if self.report is not None and row >= 0 else None

    def select_row(self, row: int) -> None:
        self.table.selectRow(row)
        self.table.scrollToItem(self.table.item(row, 0))

    def step(self, direction: int) -> None:
        """The next (1) or previous (-1) finding shown, wrapping round."""
        rows = self.visible_rows()
        if not rows:
            return
        current = self.current_row()
        if current not in rows:
            self.select_row(rows[0] if direction > 0 else rows[-1])
            return
        self.select_row(rows[(rows.index(current) + direction) % len(rows)])

    def _filter(self) -> None:
        kind = self.kind_filter.currentData()
        findings = self.report.findings if self.report is not None else []
        for row, finding in enumerate(findings):
            self.table.setRowHidden(row, kind is not None and finding.kind != kind)
        self._enable()

    def _row_chosen(self) -> None:
        finding = self.current_finding()
        self.detail.setText("" if finding is None else tr("<b>{0}</b>: {1}").format(
            ", ".join(finding.record_codes), finding.message))
        if finding is not None:
            self.go_to(self.current_row(), finding)
        self._enable()

    def _enable(self) -> None:
        several = len(self.visible_rows()) > 0
        self.previous_button.setEnabled(several)
        self.next_button.setEnabled(several)
        finding = self.current_finding()
        fixable = finding is not None and finding.kind in REPAIRS
        self.fix_button.setEnabled(fixable)
        self.fix_button.setToolTip(
            tr("Offer the safe repair for this problem, with a preview") if fixable else
            tr("Choose an invalid geometry, an overlap or a gap; other problems have no safe "
               "automatic repair and are edited by hand."))

    # --- the map ---------------------------------------------------------------------------
    def go_to(self, row: int, finding: GeometryFinding) -> None:
        """Zoom the canvas to the finding and select it, with the records it names."""
        for layer in self.layers:
            layer.selectByExpression(f'"finding" = {int(row)}')
        ids = ", ".join(QgsExpression.quotedValue(i) for i in finding.record_ids)
        for key in ("parcels", "structures", "structure_points"):
            layer = self.store_layers.get(key)
            if layer is not None:
                layer.selectByExpression(f'"id" IN ({ids})')
        if not self.layers:
            return
        crs = self.layers[0].crs()
        shape = finding.geometry if finding.geometry is not None else finding.location
        box = _geometry(shape.wkb).boundingBox()
        box.combineExtentWith(_geometry(finding.location_wkb).boundingBox())
        smallest = MIN_VIEW[crs.isGeographic()]
        centre = box.center()
        width = max(box.width() * 1.6, smallest)
        height = max(box.height() * 1.6, smallest)
        view = QgsRectangle(centre.x() - width / 2, centre.y() - height / 2,
                            centre.x() + width / 2, centre.y() + height / 2)
        to_canvas = QgsCoordinateTransform(crs, self.canvas.mapSettings().destinationCrs(),
                                           QgsProject.instance())
        self.canvas.setExtent(to_canvas.transformBoundingBox(view))
        self.canvas.refresh()

    # --- repairs ---------------------------------------------------------------------------
    def fix_current(self) -> bool:
        """Ask about the safe repair of the chosen finding; True when one was written."""
        finding = self.current_finding()
        if finding is None or finding.kind not in REPAIRS:
            return False
        dialog = FixDialog(finding, REPAIRS[finding.kind], self._preview, self)
        if dialog.exec_() != QDialog.Accepted or dialog.request() is None:
            return False
        return self._apply(dialog.request())


def _geometry(wkb: bytes) -> QgsGeometry:
    geometry = QgsGeometry()
    geometry.fromWkb(wkb)
    return geometry


class FixDialog(QDialog):
    """One safe repair, with what it changes, before it is written."""

    def __init__(self, finding: GeometryFinding, repair: str, preview: Preview,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.finding, self.repair, self._preview = finding, repair, preview
        self.seen: Optional[RepairPreview] = None
        self.setWindowTitle(tr("Fix: {0}").format(", ".join(finding.record_codes)))
        layout = QVBoxLayout(self)
        problem = QLabel(finding.message)
        problem.setWordWrap(True)
        layout.addWidget(problem)
        explanation = QLabel(
            tr("<b>Make valid</b>: the boundary is rebuilt without crossing itself, keeping "
               "every piece of land it encloses. Refused if it would lose more than 1% of the "
               "drawn area.") if repair == MAKE_VALID else
            tr("<b>Snap to the neighbours</b>: corners of the chosen parcel within the "
               "tolerance move onto the neighbouring parcels' corners and edges, so that "
               "shared edges match. Refused if the area would change by more than 5%."))
        explanation.setWordWrap(True)
        layout.addWidget(explanation)
        form = QFormLayout()
        self.record = QComboBox()
        pairs = list(zip(finding.record_ids, finding.record_codes))
        for record_id, code in (pairs if repair == SNAP else pairs[:1]):
            self.record.addItem(code, record_id)
        self.record.setEnabled(self.record.count() > 1)
        form.addRow(tr("Parcel") if repair == SNAP else tr("Record"), self.record)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(0.01, MAX_SNAP_TOLERANCE_M)
        self.tolerance.setSingleStep(0.1)
        self.tolerance.setDecimals(2)
        self.tolerance.setSuffix(" m")
        self.tolerance.setValue(0.5)
        if repair == SNAP:
            form.addRow(tr("Tolerance"), self.tolerance)
        layout.addLayout(form)
        self.change = QLabel()
        self.change.setWordWrap(True)
        self.change.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.change)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.apply_button = buttons.button(QDialogButtonBox.Ok)
        self.apply_button.setText(tr("Apply the repair"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.record.currentIndexChanged.connect(self.show_preview)
        self.tolerance.valueChanged.connect(self.show_preview)
        self.show_preview()
        self.resize(max(520, self.sizeHint().width()), self.sizeHint().height())

    def _asked(self) -> RepairRequest:
        return RepairRequest(self.repair, str(self.record.currentData()),
                             round(self.tolerance.value(), 2))

    def show_preview(self) -> None:
        """Ask the core what the repair would write, and say it (or why it refuses)."""
        self.seen = None
        try:
            self.seen = self._preview(self._asked())
        except StdmError as error:
            self.change.setText(tr("Refused: {0}").format(error))
            self.change.setStyleSheet(PROBLEM_STYLE)
            self.apply_button.setEnabled(False)
            return
        fix = self.seen.fix
        self.change.setStyleSheet("")
        if not fix.changed:
            self.change.setText(tr("Nothing to change: {0}").format(fix.message))
        else:
            delta = fix.area_after_m2 - fix.area_before_m2
            share = 100.0 * delta / fix.area_before_m2 if fix.area_before_m2 else 0.0
            self.change.setText(tr("<b>What changes</b>: {0}<br>Area {1:,.2f} m² → {2:,.2f} "
                                   "m² ({3:+,.2f} m², {4:+.2f}%). The old boundary stays in "
                                   "the record's history.").format(
                fix.message, fix.area_before_m2, fix.area_after_m2, delta, share))
        self.apply_button.setEnabled(fix.changed)

    def request(self) -> Optional[RepairRequest]:
        """What to apply: the previewed repair, refused if the record changed meanwhile."""
        if self.seen is None or not self.seen.fix.changed:
            return None
        asked = self._asked()
        return RepairRequest(asked.repair, asked.record_id, asked.tolerance_m,
                             self.seen.version_before)
