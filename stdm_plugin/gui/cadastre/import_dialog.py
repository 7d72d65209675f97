"""The "Import cadastre or structures" dialog: a file, what to do with it, and what came of it.

Two uses of a Shapefile, GeoPackage layer or GeoJSON file from outside the
project: import its footprints as structures of a settlement, or compare
(reconcile) its parcels with the enumerated ones, which writes nothing. The
dialog gathers the choices into a CadastreRequest and hands it to the
plugin, which runs the core; the report comes back into the same window,
so that a file can be fixed and tried again without choosing it anew.
The file's CRS and fields are read through QGIS (no features are read):
a file without a CRS cannot be placed, so the source CRS is then required.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from qgis.core import QgsCoordinateReferenceSystem, QgsVectorLayer
from qgis.gui import QgsFileWidget, QgsProjectionSelectionWidget
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.cadastre.reconcile import CADASTRAL, Reconciliation
from ...core.cadastre.spatial_features import WARNING
from ...core.cadastre.spatial_files import list_layers
from ...core.cadastre.structures import (
    ALL_OR_NOTHING,
    VALID_ONLY,
    StructureImportReport,
    write_problems_csv,
)
from ...core.store.errors import SpatialFileError
from ...qgis.cadastre.geometry_task import STATUS_TEXT, status_names
from ...qgis.i18n import tr

STRUCTURES, RECONCILE = "structures", "reconcile"
PROBLEM_STYLE = "color: #a94442;"
HINT_STYLE = "color: palette(mid);"
BANNERS = {"ok": "background: #dff0d8; color: #2b542c;",
           "partial": "background: #fcf8e3; color: #8a6d3b;",
           "failed": "background: #f2dede; color: #a94442;"}
FILE_FILTER = "Shapefile, GeoPackage or GeoJSON (*.shp *.gpkg *.geojson *.json);;All files (*)"


@dataclass
class CadastreRequest:
    """What the user chose; the plugin runs it."""

    path: str
    layer: Optional[str]
    #: "EPSG:xxxx", or None for the CRS the file declares
    source_crs: Optional[str]
    settlement_id: Optional[str]
    action: str = STRUCTURES
    mode: str = ALL_OR_NOTHING
    id_field: Optional[str] = None
    min_overlap: float = 0.5
    tolerance_m2: float = 5.0


def _indented(form: QFormLayout) -> QWidget:
    widget = QWidget()
    widget.setLayout(form)
    form.setContentsMargins(24, 0, 0, 4)
    return widget


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.verticalHeader().hide()
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    table.setWordWrap(True)  # a reason is a sentence: wrapped, not cut
    table.setMinimumHeight(160)
    header = table.horizontalHeader()
    for column in range(len(headers) - 1):
        header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
    header.setSectionResizeMode(len(headers) - 1, QHeaderView.Stretch)
    return table


def _fill(table: QTableWidget, rows: list[list[Any]], colours: Optional[list] = None) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            item = QTableWidgetItem("" if value is None else str(value))
            item.setToolTip(item.text())
            if colours and colours[r]:
                item.setForeground(QColor(colours[r]))
            table.setItem(r, c, item)


class CadastreDialog(QDialog):
    """Choose the file and the action; Run shows the report below, Save writes it as CSV."""

    def __init__(self, store_label: str, settlements: list[tuple[str, str]],
                 run: Callable[[CadastreRequest], tuple[Any, str]],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._run = run
        self.result_: Any = None
        self.setWindowTitle(tr("Import cadastre or structures — {0}").format(store_label))
        layout = QVBoxLayout(self)
        layout.addWidget(self._file_box())
        layout.addWidget(self._action_box(settlements))
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self.problem)
        layout.addWidget(self._result_box(), 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Close)
        self.run_button = buttons.button(QDialogButtonBox.Ok)
        self.run_button.setText(tr("Run"))
        self.run_button.clicked.connect(self.run_now)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._action_chosen()
        self._fit(880)

    # --- the parts ------------------------------------------------------------------------
    def _file_box(self) -> QGroupBox:
        box = QGroupBox(tr("File"))
        form = QFormLayout(box)
        self.file_widget = QgsFileWidget()
        self.file_widget.setStorageMode(QgsFileWidget.GetFile)
        self.file_widget.setFilter(tr(FILE_FILTER))
        self.file_widget.setDialogTitle(tr("The cadastre or footprints file"))
        self.file_widget.fileChanged.connect(self._file_chosen)
        form.addRow(tr("File"), self.file_widget)
        self.layer = QComboBox()
        self.layer.currentIndexChanged.connect(self._layer_chosen)
        form.addRow(tr("Layer"), self.layer)
        self.crs = QgsProjectionSelectionWidget()
        self.crs.setOptionVisible(QgsProjectionSelectionWidget.CrsNotSet, True)
        self.crs.setNotSetText(tr("The CRS the file declares"))
        self.crs.setCrs(QgsCoordinateReferenceSystem())
        form.addRow(tr("Source CRS"), self.crs)
        self.crs_hint = QLabel(tr("Choose a file first."))
        self.crs_hint.setWordWrap(True)
        self.crs_hint.setStyleSheet(HINT_STYLE)
        form.addRow("", self.crs_hint)
        return box

    def _action_box(self, settlements: list[tuple[str, str]]) -> QGroupBox:
        box = QGroupBox(tr("What to do"))
        layout = QVBoxLayout(box)
        top = QFormLayout()
        self.settlement = QComboBox()
        for settlement_id, label in settlements:
            self.settlement.addItem(label, settlement_id)
        top.addRow(tr("Settlement"), self.settlement)
        layout.addLayout(top)
        self.structures = QRadioButton(tr("Import as structures (building footprints)"))
        self.reconcile = QRadioButton(tr("Reconcile with the enumerated parcels (writes "
                                         "nothing)"))
        group = QButtonGroup(self)
        for button in (self.structures, self.reconcile):
            group.addButton(button)
            button.toggled.connect(self._action_chosen)
        modes = QFormLayout()
        self.all_or_nothing = QRadioButton(tr("All or nothing: import nothing if a feature "
                                              "has a problem"))
        self.valid_only = QRadioButton(tr("Import the valid features, leave out the others"))
        mode_group = QButtonGroup(self)
        for button in (self.all_or_nothing, self.valid_only):
            mode_group.addButton(button)
            modes.addRow(button)
        self.all_or_nothing.setChecked(True)
        self.structure_options = _indented(modes)
        compare = QFormLayout()
        self.id_field = QComboBox()
        compare.addRow(tr("Parcel id field"), self.id_field)
        self.min_overlap = QDoubleSpinBox()
        self.min_overlap.setRange(5, 100)
        self.min_overlap.setValue(50)
        self.min_overlap.setSuffix(" %")
        self.min_overlap.setToolTip(tr("Two parcels are the same land when they overlap by at "
                                       "least this share of either of them"))
        compare.addRow(tr("Minimum overlap"), self.min_overlap)
        self.tolerance = QDoubleSpinBox()
        self.tolerance.setRange(0, 10000)
        self.tolerance.setDecimals(1)
        self.tolerance.setValue(5.0)
        self.tolerance.setSuffix(" m²")
        self.tolerance.setToolTip(tr("A matched pair whose boundaries differ by more than this "
                                     "area has a changed boundary"))
        compare.addRow(tr("Boundary tolerance"), self.tolerance)
        self.reconcile_options = _indented(compare)
        for widget in (self.structures, self.structure_options, self.reconcile,
                       self.reconcile_options):
            layout.addWidget(widget)
        self.structures.setChecked(True)
        return box

    def _result_box(self) -> QGroupBox:
        self.result_box = QGroupBox(tr("Result"))
        layout = QVBoxLayout(self.result_box)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setMargin(6)
        layout.addWidget(self.banner)
        self.tabs = QTabWidget()
        self.parcel_table = _table([tr("Side"), tr("Status"), tr("Parcel"), tr("Area (m²)"),
                                    tr("Difference (m²)"), tr("Overlaps with")])
        self.problem_table = _table([tr("File"), tr("Feature"), tr("Field"), tr("Severity"),
                                     tr("Reason")])
        self.tabs.addTab(self.parcel_table, tr("Parcels"))
        self.tabs.addTab(self.problem_table, tr("Problems"))
        layout.addWidget(self.tabs, 1)
        self.save_button = QPushButton(tr("Save the report as CSV…"))
        self.save_button.clicked.connect(self._ask_where_to_save)
        layout.addWidget(self.save_button)
        self.result_box.hide()
        return self.result_box

    # --- the file ---------------------------------------------------------------------------
    def _file_chosen(self) -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        path = self.file_widget.filePath().strip()
        try:
            names = list_layers(path) if os.path.isfile(path) else []
        except SpatialFileError as error:
            names = []
            self._say(str(error))
        for name in names:
            self.layer.addItem(name)
        self.layer.setEnabled(len(names) > 1)
        self.layer.blockSignals(False)
        self._layer_chosen()

    def _layer_chosen(self) -> None:
        """Read the chosen layer's CRS and fields through QGIS (no features)."""
        self.id_field.clear()
        self.id_field.addItem(tr("(none: use the feature id)"), None)
        path = self.file_widget.filePath().strip()
        if not os.path.isfile(path) or self.layer.count() == 0:
            self.crs_hint.setText(tr("Choose a file first."))
            return
        uri = path if not path.lower().endswith(".gpkg") else \
            f"{path}|layername={self.layer.currentText()}"
        layer = QgsVectorLayer(uri, "probe", "ogr")
        for name in layer.fields().names() if layer.isValid() else []:
            self.id_field.addItem(name, name)
        declared = layer.crs() if layer.isValid() else QgsCoordinateReferenceSystem()
        self.file_crs = declared
        if declared.isValid():
            self.crs_hint.setStyleSheet(HINT_STYLE)
            self.crs_hint.setText(tr("The file declares {0} ({1}); leave the source CRS as it "
                                     "is, or choose the CRS its coordinates are really "
                                     "in.").format(declared.authid() or tr("a custom CRS"),
                                                   declared.description()))
        else:
            self.crs_hint.setStyleSheet(PROBLEM_STYLE)
            self.crs_hint.setText(tr("The file declares no CRS (a Shapefile without its .prj "
                                     "file?): choose the CRS its coordinates are in. "
                                     "Required."))

    # --- the action -------------------------------------------------------------------------
    def _action_chosen(self) -> None:
        self.structure_options.setEnabled(self.structures.isChecked())
        self.reconcile_options.setEnabled(self.reconcile.isChecked())

    def request(self) -> CadastreRequest:
        crs = self.crs.crs()
        return CadastreRequest(
            path=self.file_widget.filePath().strip(),
            layer=self.layer.currentText() or None,
            source_crs=crs.authid() if crs.isValid() else None,
            settlement_id=self.settlement.currentData(),
            action=STRUCTURES if self.structures.isChecked() else RECONCILE,
            mode=VALID_ONLY if self.valid_only.isChecked() else ALL_OR_NOTHING,
            id_field=self.id_field.currentData(),
            min_overlap=round(self.min_overlap.value() / 100.0, 4),
            tolerance_m2=self.tolerance.value())

    def missing(self) -> str:
        """What is still to choose, empty when the action can run."""
        request = self.request()
        if not request.path:
            return tr("Choose the file.")
        if not os.path.isfile(request.path):
            return tr("No such file: {0}").format(request.path)
        if not request.settlement_id:
            return tr("The store has no settlement yet: add one to its Settlements layer "
                      "first.")
        declared = getattr(self, "file_crs", QgsCoordinateReferenceSystem())
        if request.source_crs is None and not declared.isValid():
            return tr("The file declares no CRS: choose the source CRS its coordinates are "
                      "in.")
        return ""

    def run_now(self) -> Any:
        """Run the chosen action through the plugin and show its report; returns it."""
        missing = self.missing()
        self._say(missing)
        if missing:
            return None
        result, error = self._run(self.request())
        self._say(error)
        if result is not None:
            self.show_result(result)
        return result

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    # --- the report -------------------------------------------------------------------------
    def show_result(self, result: Any) -> None:
        self.result_ = result
        if isinstance(result, Reconciliation):
            self._show_reconciliation(result)
        else:
            self._show_import(result)
        self._show_problems(result.problems)
        self.result_box.show()
        self._fit(self.width())

    def _fit(self, width: int) -> None:
        """Tall enough for the wrapped texts at this width (Qt sizes a window by its widest
        wrapped text, and the form would be squeezed)."""
        self.resize(width, max(self.height() if self.isVisible() else 0,
                               self.heightForWidth(width), self.sizeHint().height()))

    def _show_import(self, report: StructureImportReport) -> None:
        text = tr("{0} feature(s) read; {1} imported as structures ({2} on a parcel), {3} "
                  "rejected.").format(report.features_read, report.imported,
                                      report.linked_to_parcels, report.rejected)
        if report.held_back:
            text += " " + tr("Nothing was written: {0} feature(s) have problems, so the {1} "
                             "others were held back too (all or nothing). Fix the features "
                             "listed, or import the valid ones only.").format(
                report.rejected, report.held_back)
        kind = "ok" if report.ok else ("partial" if report.written else "failed")
        self._banner(kind, text)
        self.tabs.setTabVisible(0, False)
        self.tabs.setCurrentIndex(1)

    def _show_reconciliation(self, result: Reconciliation) -> None:
        names = status_names()
        lines = []
        for side, counts in result.counts().items():
            found = ", ".join(f"{n} {names[s]}" for s, n in counts.items() if n) or tr("none")
            lines.append((tr("Cadastral parcels: {0}.") if side == CADASTRAL
                          else tr("Enumerated parcels: {0}.")).format(found))
        lines.append(tr("Nothing was written to the store; the result is a layer of the "
                        "project."))
        troubled = any(p.status in ("conflict", "changed_boundary") for p in result.parcels)
        self._banner("partial" if troubled else "ok", "\n".join(lines))
        rows = [[tr("cadastre") if p.side == CADASTRAL else tr("enumerated"),
                 names[p.status], p.parcel, f"{p.area_m2:,.2f}",
                 "" if p.symmetric_difference_m2 is None else
                 f"{p.symmetric_difference_m2:,.2f}",
                 "; ".join(f"{o.partner} ({o.share_of_this:.0%})" for o in p.overlaps)]
                for p in result.parcels]
        _fill(self.parcel_table, rows, [STATUS_TEXT.get(p.status) for p in result.parcels])
        self.tabs.setTabVisible(0, True)
        self.tabs.setCurrentIndex(0)

    def _show_problems(self, problems: list) -> None:
        rows = [[os.path.basename(p.file), "" if p.index is None else
                 tr("fid {0} (#{1})").format(p.fid, p.index), p.field or "",
                 tr("warning") if p.severity == WARNING else tr("error"), p.reason]
                for p in problems]
        _fill(self.problem_table, rows, [None if p.severity == WARNING else "#a94442"
                                         for p in problems])
        self.tabs.setTabText(1, tr("Problems ({0})").format(len(problems)))

    def _banner(self, kind: str, text: str) -> None:
        self.banner.setText(text)
        self.banner.setStyleSheet(BANNERS[kind])

    # --- saving -----------------------------------------------------------------------------
    def _ask_where_to_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, tr("Save the report"),
                                              "cadastre-report.csv", tr("CSV (*.csv)"))
        if path:
            self.save_report(path)

    def save_report(self, path: str) -> list[str]:
        """The report as CSV (and, for a reconciliation, its problems beside it)."""
        result, written = self.result_, []
        if result is None:
            return written
        try:
            result.write_csv(path)
            written.append(path)
            if isinstance(result, Reconciliation) and result.problems:
                stem, extension = os.path.splitext(path)
                write_problems_csv(f"{stem}-problems{extension or '.csv'}", result.problems)
                written.append(f"{stem}-problems{extension or '.csv'}")
        except OSError as error:
            self._say(tr("The report was not saved: {0}").format(error))
            return written
        self._say("")
        self.banner.setText(self.banner.text() + "\n" + tr("Saved: {0}").format(
            ", ".join(written)))
        return written
