"""What a merge of a field package did: counts, each conflict's resolution, new codes.

Shown after every merge: the supervisor checks the counts against what
the team says it did, reads how each conflict was resolved, and passes
the renumbered codes on to the team (their phones still show the old
ones). "Save as CSV…" writes the same rows as the core's report.
"""
from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.packages.merge_plan import MergePlan, MergeReport
from ...qgis.i18n import tr
from ...qgis.packages.merge_view import (
    choice_name,
    conflict_detail,
    enumerator_name,
    kind_title,
    package_label,
    record_label,
    report_counts,
    save_report_csv,
    summary_line,
)
from ..certificates.issue_report_dialog import BANNERS
from ..store.sign_in_dialog import PROBLEM_STYLE
from ..store.tables import read_only_table
from .merge_dialog import count_table


class MergeReportDialog(QDialog):
    """The report of one merge, with Save as CSV…."""

    def __init__(self, report: MergeReport, plan: MergePlan, store_label: str,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.report = report
        self.plan = plan
        package = plan.package
        self.setWindowTitle(tr("Field package merged — {0}").format(package.team))
        self.resize(1100, 720)
        layout = QVBoxLayout(self)
        background, border, text = BANNERS["ok"]
        self.banner = QLabel(summary_line(report, package_label(package), store_label))
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"QLabel {{ background: {background}; border: 1px solid "
                                  f"{border}; color: {text}; padding: 8px; "
                                  "font-weight: bold; }")
        layout.addWidget(self.banner)
        counts = QGroupBox(tr("Records merged"))
        row = QHBoxLayout(counts)
        by_table, by_person = report_counts(report)
        self.by_table = count_table(by_table, with_enumerator=False)
        self.by_enumerator = count_table(by_person, with_enumerator=True)
        row.addWidget(self.by_table, 1)
        row.addWidget(self.by_enumerator, 1)
        layout.addWidget(counts)
        layout.addWidget(self._resolved(), 3)
        layout.addWidget(self._renumbered(), 1 if report.renumbered else 0)
        self.details = QLabel(tr("Merge {0} of package {1}; {2} record(s) unchanged. Both "
                                 "versions of every conflict are kept in the store's merge "
                                 "register.").format(report.merge_id or "—", package.id,
                                                     report.unchanged))
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.details)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.PlainText)
        self.status.hide()
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        self.save_button = QPushButton(tr("Save as CSV…"))
        self.save_button.clicked.connect(self._save_clicked)
        buttons.addButton(self.save_button, QDialogButtonBox.ActionRole)
        layout.addWidget(buttons)

    def _resolved(self) -> QGroupBox:
        box = QGroupBox(tr("Conflicts and how they were resolved"))
        column = QVBoxLayout(box)
        table = read_only_table([tr("Conflict"), tr("Record"), tr("Detail"), tr("Enumerator"),
                                 tr("Resolution")], parent=box)
        table.setWordWrap(True)
        table.setRowCount(len(self.report.resolved))
        for row, (conflict, choice) in enumerate(self.report.resolved):
            cells = (kind_title(conflict.kind), record_label(self.plan, conflict),
                     conflict_detail(conflict), enumerator_name(conflict.enumerator),
                     choice_name(choice))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, col, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Interactive)
        header.resizeSection(0, 300)
        header.setSectionResizeMode(1, QHeaderView.Interactive)
        header.resizeSection(1, 280)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.resolved_table = table
        column.addWidget(table)
        if not self.report.resolved:
            table.hide()
            column.addWidget(QLabel(tr("There were no conflicts.")))
        return box

    def _renumbered(self) -> QGroupBox:
        box = QGroupBox(tr("Codes renumbered (taken in the store already): tell the team"))
        column = QVBoxLayout(box)
        table = read_only_table([tr("Code in the package"), tr("Code in the store")],
                                parent=box)
        items = sorted(self.report.renumbered.items())
        table.setRowCount(len(items))
        for row, (old, new) in enumerate(items):
            table.setItem(row, 0, QTableWidgetItem(old))
            table.setItem(row, 1, QTableWidgetItem(new))
        table.horizontalHeader().setStretchLastSection(True)
        self.renumbered_table = table
        column.addWidget(table)
        if not items:
            table.hide()
            column.addWidget(QLabel(tr("No code was renumbered: every new parcel and "
                                       "structure kept the code the team gave it.")))
        return box

    def resolved_rows(self) -> list[list[str]]:
        table = self.resolved_table
        return [[table.item(r, c).text() for c in range(table.columnCount())]
                for r in range(table.rowCount())]

    def _save_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Save the merge report"),
            f"merge-report-{self.plan.package.team}.csv".replace(" ", "_"), tr("CSV (*.csv)"))
        if path:
            self.save_csv(path)

    def save_csv(self, path: str) -> bool:
        """Write the report as CSV; the outcome is shown under the tables."""
        try:
            save_report_csv(self.report, path)
        except OSError as error:
            self.status.setStyleSheet(PROBLEM_STYLE)
            self.status.setText(tr("The report was not saved: {0}").format(
                error.strerror or error))
            self.status.show()
            return False
        self.status.setStyleSheet("")
        self.status.setText(tr("Saved the report to {0}").format(path))
        self.status.show()
        return True
