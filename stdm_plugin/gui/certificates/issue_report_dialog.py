"""What a batch of certificates did: every parcel with its number and PDF, or why not.

Shown after every batch, whether all went well or not: the land officer
hands out the PDFs listed as issued and works through the refusals (the
reasons say what to fix: a claim not approved, an open objection, shares
that do not add up, a boundary to correct).
"""
from __future__ import annotations

import os
from typing import Optional

from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QColor, QDesktopServices
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...qgis.certificates.task import IssueOutcome
from ...qgis.i18n import tr

#: banner colours (background, border, text), as in the import report
BANNERS = {"ok": ("#dff0d8", "#b2d8a3", "#2b542c"),
           "partial": ("#fcf8e3", "#f0dc9c", "#8a6d3b"),
           "failed": ("#f2dede", "#e4b9c0", "#a94442")}
OUTCOME_COLOURS = {"issued": "#2b542c", "refused": "#8a6d3b", "failed": "#a94442",
                   "not attempted": "#777777"}


def outcome_kind(outcome: IssueOutcome) -> str:
    """"ok" (all issued), "partial" (some issued, some not) or "failed" (none issued)."""
    report = outcome.report
    if outcome.cancelled and not (report and (report.issued or report.refused
                                              or report.failed)):
        return "partial"  # nothing went wrong: nothing was done
    if outcome.error or report is None or not report.issued:
        return "failed"
    if report.refused or report.failed or report.not_attempted or outcome.notes:
        return "partial"
    return "ok"


def summary_line(outcome: IssueOutcome, see_report: bool = True) -> str:
    """One line for the message bar: "12 certificates issued, 3 refused — see report"."""
    report = outcome.report
    if outcome.cancelled_before_start:
        return tr("No certificate was issued: the batch was cancelled before it started.")
    if outcome.error or report is None:
        return tr("No certificate was issued: {0}").format(outcome.error)
    issued = len(report.issued)
    parts = [(tr("{0} certificate issued") if issued == 1
              else tr("{0} certificates issued")).format(issued)]
    if report.refused:
        parts.append(tr("{0} refused").format(len(report.refused)))
    if report.failed:
        parts.append(tr("{0} failed").format(len(report.failed)))
    if report.cancelled:
        parts.append(tr("cancelled with {0} not attempted").format(len(report.not_attempted)))
    line = ", ".join(parts)
    if see_report and (report.refused or report.failed or report.not_attempted
                       or outcome.notes):
        return tr("{0} — see report").format(line)
    return line + "."


def report_rows(outcome: IssueOutcome) -> list[tuple[str, str, str, str]]:
    """(outcome, parcel, certificate number, PDF or reasons), issued first."""
    report = outcome.report
    if report is None:
        return []
    rows = [("issued", i.parcel_code, i.number, i.pdf_path) for i in report.issued]
    rows += [("refused", code, "", "\n".join(reasons))
             for code, reasons in sorted(report.refused.items())]
    rows += [("failed", code, "", error) for code, error in sorted(report.failed.items())]
    rows += [("not attempted", code, "", tr("the batch was cancelled"))
             for code in report.not_attempted]
    return rows


def outcome_label(kind: str) -> str:
    return {"issued": tr("Issued"), "refused": tr("Refused"), "failed": tr("Failed"),
            "not attempted": tr("Not attempted")}.get(kind, kind)


class IssueReportDialog(QDialog):
    """The batch's outcome: a banner, the files written, and a row per parcel."""

    def __init__(self, outcome: IssueOutcome, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.outcome = outcome
        self.setWindowTitle(tr("Certificates issued"))
        self.resize(900, 520)
        layout = QVBoxLayout(self)
        background, border, text = BANNERS[outcome_kind(outcome)]
        self.banner = QLabel(summary_line(outcome, see_report=False))
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(f"QLabel {{ background: {background}; border: 1px solid "
                                  f"{border}; color: {text}; padding: 8px; "
                                  "font-weight: bold; }")
        layout.addWidget(self.banner)
        self.files = QLabel(self._files_text())
        self.files.setWordWrap(True)
        self.files.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.files)
        self.table = self._table()
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        self.open_folder_button = QPushButton(tr("Open folder"))
        self.open_folder_button.clicked.connect(self.open_folder)
        buttons.addButton(self.open_folder_button, QDialogButtonBox.ActionRole)
        if outcome.merged_pdf:
            self.open_merged_button = QPushButton(tr("Open merged PDF"))
            self.open_merged_button.clicked.connect(
                lambda: self._open(outcome.merged_pdf))
            buttons.addButton(self.open_merged_button, QDialogButtonBox.ActionRole)
        layout.addWidget(buttons)

    def _files_text(self) -> str:
        outcome = self.outcome
        lines = [tr("Folder: {0}").format(outcome.request.out_dir)]
        if outcome.merged_pdf:
            lines.append(tr("Merged PDF: {0}").format(os.path.basename(outcome.merged_pdf)))
        if outcome.report_csv:
            lines.append(tr("Report: {0}").format(os.path.basename(outcome.report_csv)))
        if outcome.error:
            lines.append(outcome.error)
        lines += outcome.notes
        return "\n".join(lines)

    def _table(self) -> QTableWidget:
        rows = report_rows(self.outcome)
        table = QTableWidget(len(rows), 4)
        table.setHorizontalHeaderLabels([tr("Outcome"), tr("Parcel"), tr("Certificate"),
                                         tr("PDF, or why not")])
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setWordWrap(True)
        table.verticalHeader().setVisible(False)
        for row, (kind, parcel, number, detail) in enumerate(rows):
            shown = os.path.basename(detail) if kind == "issued" else detail
            for column, value in enumerate((outcome_label(kind), parcel, number, shown)):
                item = QTableWidgetItem(value)
                item.setToolTip(detail)
                if column == 0:
                    item.setForeground(QColor(OUTCOME_COLOURS.get(kind, "#000000")))
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        for column in range(3):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.Stretch)
        # wrapped reasons take the height they need at the width the column gets
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        return table

    def rows(self) -> list[list[str]]:
        """The table's texts, row by row (what the land officer reads)."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    def open_folder(self) -> bool:
        return self._open(self.outcome.request.out_dir)

    @staticmethod
    def _open(path: str) -> bool:
        return QDesktopServices.openUrl(QUrl.fromLocalFile(path))
