"""What an import did, shown after every import: the counts and every row not taken.

The supervisor works through the table to fix the export (file, spreadsheet
row, column, value, why), or saves it as CSV to pass it on to the
enumerators. It is shown when everything went in too, so that "it worked"
comes with the numbers that prove it.
"""
from __future__ import annotations

from typing import Any, Optional

from qgis.PyQt.QtCore import QAbstractTableModel, QModelIndex, Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ...core.submissions.report import PROBLEM_KINDS, ImportReport, RowProblem
from ...qgis.i18n import tr

#: the kind of a row left out only because another row of its submission was bad
FOLLOWS = "rejected_with_submission"
#: banner colours (background, border, text): all in / some rejected / nothing written
BANNERS = {"ok": ("#dff0d8", "#b2d8a3", "#2b542c"),
           "partial": ("#fcf8e3", "#f0dc9c", "#8a6d3b"),
           "failed": ("#f2dede", "#e4b9c0", "#a94442")}


def outcome_of(report: ImportReport) -> str:
    """One of "ok", "partial" (some written, some rejected), "failed" (nothing written)."""
    if report.ok:
        return "ok"
    return "partial" if report.written else "failed"


def summary_line(report: ImportReport) -> str:
    """One line for the message bar and the log."""
    line = tr("{0}: {1} submission(s) in the export; {2} imported, {3} already imported, "
              "{4} rejected").format(report.form_id, report.submissions_seen, report.imported,
                                     report.skipped, report.rejected)
    if report.held_back:
        line += tr(", {0} valid one(s) held back (all or nothing)").format(report.held_back)
    if report.problems:
        line += tr("; {0} problem(s), see the report").format(len(report.problems))
    return line + "."


def headline(report: ImportReport) -> str:
    """What happened and what to do next, in the words of the banner."""
    kind = outcome_of(report)
    if kind == "ok":
        return tr("Every submission of the export is in the store: {0} imported now, {1} "
                  "already there.").format(report.imported, report.skipped)
    if kind == "partial":
        return tr("{0} submission(s) imported; {1} rejected, with every row not imported "
                  "listed below.").format(report.imported, report.rejected)
    if report.held_back:
        return tr("Nothing was imported: {0} submission(s) have problems, so the {1} valid "
                  "one(s) were held back too (all or nothing). Fix the rows listed below, or "
                  "import the valid rows only.").format(report.rejected, report.held_back)
    return tr("Nothing was imported: the problems below stop the import.")


def table_names() -> dict[str, str]:
    """The store's tables as the supervisor knows them (a function: tr() at call time)."""
    return {"submission": tr("Submissions registered"),
            "party": tr("Parties (households and persons)"),
            "spatial_unit": tr("Parcels and structures"), "social_tenure": tr("Tenure records"),
            "supporting_document": tr("Documents")}


def details(problem: RowProblem) -> str:
    """The whole reason and what kind of problem it is, which a table cell cuts short."""
    lines = [problem.reason, f"{problem.kind}: {PROBLEM_KINDS.get(problem.kind, '')}"]
    if problem.target:
        lines.append(tr("Model field: {0}").format(problem.target))
    if problem.submission_id:
        lines.append(tr("Submission: {0}").format(problem.submission_id))
    return "\n".join(lines)


class ProblemTableModel(QAbstractTableModel):
    """The report's problems as rows: file, spreadsheet row, column, value, reason.

    A model rather than a filled table widget: a bad mapping on a big export
    can produce a problem per row, tens of thousands of them.
    """

    FIELDS = ("file", "spreadsheet_row", "field", "value", "reason")

    def __init__(self, problems: list[RowProblem], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.problems = problems
        self.headers = (tr("File"), tr("Row"), tr("Field"), tr("Value"), tr("Reason"))

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's API
        return 0 if parent.isValid() else len(self.problems)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.FIELDS)

    def text(self, row: int, column: int) -> str:
        value = getattr(self.problems[row], self.FIELDS[column])
        return "" if value is None else str(value)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ToolTipRole:
            return details(self.problems[index.row()])
        if role == Qt.ForegroundRole and self.problems[index.row()].kind == FOLLOWS:
            return QColor("#777777")  # a consequence: the cause is on another row
        if role == Qt.TextAlignmentRole and self.FIELDS[index.column()] == "spreadsheet_row":
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.DisplayRole) -> Any:
        if role == Qt.DisplayRole and orientation == Qt.Horizontal:
            return self.headers[section]
        return None


def _counts_box(title: str, counts: list[tuple[str, Any, str]], columns: int = 2) -> QGroupBox:
    """Label and value pairs side by side in columns, so the counts leave the room to the
    table; a pair without a value is a line of text across the box."""
    box = QGroupBox(title)
    grid = QGridLayout(box)
    grid.setVerticalSpacing(2)
    grid.setHorizontalSpacing(12)
    rows = -(-len(counts) // columns)
    for i, (label, value, tip) in enumerate(counts):
        row, column = i % rows, 3 * (i // rows)
        name = QLabel(label)
        name.setToolTip(tip)
        grid.addWidget(name, row, column, 1, 1 if value is not None else 5)
        if value is not None:
            shown = QLabel(f"{value:,}" if isinstance(value, int) else str(value))
            shown.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            grid.addWidget(shown, row, column + 1)
    grid.setColumnMinimumWidth(2, 16)  # a gap between the two columns
    grid.setColumnStretch(5, 1)
    grid.setRowStretch(rows, 1)  # the rows at the top when the other box is taller
    return box


class ImportReportDialog(QDialog):
    """The summary and the problems of one import, with "Save report as CSV…"."""

    def __init__(self, report: ImportReport, store_label: str,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.report = report
        self.setWindowTitle(tr("Import of {0} into {1}").format(report.form_id, store_label))
        self.resize(960, 660)
        layout = QVBoxLayout(self)
        background, border, colour = BANNERS[outcome_of(report)]
        self.banner = QLabel(headline(report))
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"QLabel {{ background: {background}; color: {colour}; "
                                  f"border: 1px solid {border}; border-radius: 3px; "
                                  "padding: 8px; font-weight: bold; }")
        layout.addWidget(self.banner)
        counts = QHBoxLayout()
        counts.addWidget(self._submission_counts())
        counts.addWidget(self._created_counts())
        layout.addLayout(counts)
        self.model = ProblemTableModel(report.problems, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self._style_table()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setStyleSheet("QLabel { background: palette(base); padding: 6px; "
                                   "border: 1px solid palette(mid); }")
        if report.problems:
            layout.addWidget(QLabel(tr("{0} problem(s): every row not imported, and why. Select "
                                       "a row to read it whole.").format(len(report.problems))))
            layout.addWidget(self.table, 1)
            layout.addWidget(self.details)
            self.table.selectionModel().currentRowChanged.connect(self._show_details)
            self.table.selectRow(0)
        else:
            self.table.hide()
            self.details.hide()
            layout.addWidget(QLabel(tr("No problems: every row of the export was taken.")))
            layout.addStretch(1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.save_button = QPushButton(tr("Save report as CSV…"))
        buttons.addButton(self.save_button, QDialogButtonBox.ActionRole)
        self.save_button.clicked.connect(self._choose_csv)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if not report.problems:
            self.resize(self.sizeHint().width(), self.heightForWidth(self.sizeHint().width()))

    def _submission_counts(self) -> QGroupBox:
        report = self.report
        return _counts_box(tr("Submissions"), [
            (tr("In the export"), report.submissions_seen, ""),
            (tr("Imported"), report.imported, ""),
            (tr("Already imported"), report.skipped,
             tr("In the store from an earlier import of the same export: skipped")),
            (tr("Rejected"), report.rejected, tr("Submissions with a problem listed below")),
            (tr("Held back"), report.held_back,
             tr("Valid, but not written because others were rejected (all or nothing)")),
            (tr("Households to map"), report.households_needing_mapping,
             tr("Households that came without a parcel or structure: flagged for mapping"))])

    def _created_counts(self) -> QGroupBox:
        names = table_names()
        counts = [(names.get(table, table), count, "")
                  for table, count in self.report.created.items()]
        columns = 2 if counts else 1
        if not counts:
            counts = [(tr("None: nothing was written to the store."), None, "")]
        return _counts_box(tr("Records created"),
                           [*counts, (tr("Time"), tr("{0:.1f} s").format(self.report.seconds),
                                      tr("Reading, checking and writing"))], columns)

    def _style_table(self) -> None:
        table = self.table
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setResizeContentsPrecision(500)  # rows looked at: a big report stays quick
        table.resizeColumnsToContents()
        for column in range(len(ProblemTableModel.FIELDS) - 1):
            header.resizeSection(column, min(header.sectionSize(column) + 8, 320))
        header.setSectionResizeMode(len(ProblemTableModel.FIELDS) - 1, QHeaderView.Stretch)

    def _show_details(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.details.setText(details(self.report.problems[current.row()]))

    # --- saving ------------------------------------------------------------------
    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Save the import report"), f"{self.report.form_id}_import_report.csv",
            tr("CSV (*.csv)"))
        if path:
            self.save_csv(path)

    def save_csv(self, path: str) -> bool:
        """Write the problems as CSV; the outcome is shown under the table."""
        try:
            self.report.write_csv(path)
        except OSError as error:
            self.status.setStyleSheet("color: #a94442;")
            self.status.setText(tr("The report was not saved: {0}").format(error))
            self.status.show()
            return False
        self.status.setStyleSheet("")
        self.status.setText(tr("Saved the report to {0}").format(path))
        self.status.show()
        return True
