"""Deciding the conflicts of a returned field package before it is merged.

``MergeDialog`` shows what the comparison found: the records the
package adds, changes and deletes, per table and per enumerator, and each
conflict with a resolution to choose; the selected conflict's two versions
stand side by side, field by field, the fields that differ highlighted.
A policy resolves every conflict left without its own choice. The dialog
decides nothing itself: Merge hands the choices to ``merge``, which runs
the core's merge in the background and tells the dialog how it went.
"""
from __future__ import annotations

import html
import os
from typing import Callable, Optional

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QBrush, QColor, QFont
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.packages.apply import choices_for
from ...core.packages.merge_plan import POLICIES, Conflict, MergePlan
from ...qgis.i18n import tr
from ...qgis.packages.merge_view import (
    CountLine,
    choice_help,
    choice_name,
    compare,
    conflict_detail,
    enumerator_name,
    kind_title,
    plan_counts,
    policy_name,
    record_label,
    side_titles,
    table_name,
)
from ..store.sign_in_dialog import PROBLEM_STYLE
from ..store.tables import read_only_table

DIFFERS = QColor("#fff1b8")
CONTEXT = QColor("#6c757d")
KIND, RECORD, DETAIL, ENUMERATOR, RESOLUTION = range(5)


class MergeDialog(QDialog):
    """The comparison's findings and the choices; Merge calls ``merge(resolutions, policy)``.

    While the merge runs, Cancel (or closing the window) asks for it to stop with
    ``cancel_requested``; the dialog stays until it is told how the merge ended.
    """

    cancel_requested = pyqtSignal()

    def __init__(self, plan: MergePlan, store_label: str,
                 merge: Callable[[dict[str, str], str], object],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.plan = plan
        self._merge = merge
        self.combos: list[QComboBox] = []
        manifest = plan.package
        self.setWindowTitle(tr("Merge field package — {0}").format(manifest.team))
        self.resize(1180, 820)
        layout = QVBoxLayout(self)
        header = QLabel(tr("<b>{0}</b>: the package of <b>{1}</b> ({2}), made {3}, compared "
                           "with <b>{4}</b>.").format(
            html.escape(os.path.basename(os.path.normpath(manifest.folder))),
            html.escape(manifest.team),
            html.escape(", ".join(manifest.enumerators) or tr("no enumerator named")),
            html.escape(manifest.made_at[:10]), html.escape(store_label)))
        header.setWordWrap(True)
        layout.addWidget(header)
        layout.addWidget(self._summary())
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self._conflicts())
        splitter.addWidget(self._comparison())
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._footer())
        self.update_merge_button()
        if self.conflicts.rowCount():
            self.conflicts.selectRow(0)
        else:
            self._show_versions()

    # --- building ------------------------------------------------------------------------
    def _summary(self) -> QGroupBox:
        box = QGroupBox(tr("What the package brings without conflict"))
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        by_table, by_person = plan_counts(self.plan)
        self.by_table = count_table(by_table, with_enumerator=False)
        self.by_enumerator = count_table(by_person, with_enumerator=True)
        row.addWidget(self.by_table, 1)
        row.addWidget(self.by_enumerator, 1)
        column.addLayout(row)
        self.totals = QLabel(tr("{0} record(s) unchanged; {1} conflict(s) to resolve.").format(
            self.plan.unchanged, len(self.plan.conflicts)))
        column.addWidget(self.totals)
        return box

    def _conflicts(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(heading(tr("Conflicts: choose a resolution for each, or a policy "
                                    "below for those you leave")))
        table = read_only_table([tr("Conflict"), tr("Record"), tr("Detail"), tr("Enumerator"),
                                 tr("Resolution")], parent=box)
        table.setWordWrap(True)
        table.setRowCount(len(self.plan.conflicts))
        for row, conflict in enumerate(self.plan.conflicts):
            cells = (kind_title(conflict.kind), record_label(self.plan, conflict),
                     conflict_detail(conflict), enumerator_name(conflict.enumerator))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                table.setItem(row, col, item)
            table.setCellWidget(row, RESOLUTION, self._resolution_combo(conflict))
        header = table.horizontalHeader()
        header.setSectionResizeMode(KIND, QHeaderView.Interactive)
        header.resizeSection(KIND, 300)
        header.setSectionResizeMode(RECORD, QHeaderView.Interactive)
        header.resizeSection(RECORD, 280)
        header.setSectionResizeMode(DETAIL, QHeaderView.Stretch)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.itemSelectionChanged.connect(self._show_versions)
        self.conflicts = table
        column.addWidget(table)
        if not self.plan.conflicts:
            table.hide()
            column.addWidget(QLabel(tr("No conflicts: the store and the package did not "
                                       "change the same records.")))
        return box

    def _resolution_combo(self, conflict: Conflict) -> QComboBox:
        combo = QComboBox()
        combo.addItem(tr("Choose…"), None)
        for choice in choices_for(conflict):
            combo.addItem(choice_name(choice), choice)
            combo.setItemData(combo.count() - 1, choice_help(conflict, choice),
                              Qt.ToolTipRole)
        combo.setToolTip(tr("Keep mine: the store's version. Keep theirs: the package's. "
                            "Keep both: see each choice's tip."))
        combo.currentIndexChanged.connect(lambda _i, c=combo, k=conflict: self._chosen(c, k))
        self.combos.append(combo)
        return combo

    def _comparison(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(heading(tr("Both versions of the selected record")))
        self.versions_caption = QLabel()
        self.versions_caption.setWordWrap(True)
        column.addWidget(self.versions_caption)
        table = read_only_table([tr("Field"), tr("In the store (mine)"),
                                 tr("In the package (theirs)")], parent=box)
        table.setWordWrap(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.versions = table
        column.addWidget(table)
        legend = QLabel(tr("Highlighted: the two versions differ. Bold: the team changed the "
                           "field, and Keep theirs takes it. Grey: who changed the record "
                           "last and when."))
        legend.setWordWrap(True)
        column.addWidget(legend)
        return box

    def _footer(self) -> QHBoxLayout:
        line = QHBoxLayout()
        line.addWidget(QLabel(tr("For all the others:")))
        self.policy_combo = QComboBox()
        self.policy_combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        for policy in POLICIES:
            self.policy_combo.addItem(policy_name(policy), policy)
        metrics = self.policy_combo.fontMetrics()
        self.policy_combo.setMinimumWidth(60 + max(
            metrics.horizontalAdvance(policy_name(p)) for p in POLICIES))
        self.policy_combo.setToolTip(tr("The resolution of every conflict you did not choose "
                                        "for; with none, each conflict needs its choice."))
        self.policy_combo.currentIndexChanged.connect(lambda _i: self.update_merge_button())
        line.addWidget(self.policy_combo)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        line.addWidget(self.progress, 1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.PlainText)
        line.addWidget(self.status, 3)
        self.merge_button = QPushButton(tr("Merge"))
        self.merge_button.setDefault(True)
        self.merge_button.clicked.connect(self._merge_clicked)
        self.close_button = QPushButton(tr("Cancel"))
        self.close_button.clicked.connect(self.reject)
        line.addWidget(self.merge_button)
        line.addWidget(self.close_button)
        return line

    # --- choosing ---------------------------------------------------------------------------
    def choose(self, row: int, choice: Optional[str]) -> None:
        """Choose ``choice`` ("mine", "theirs", "both" or None) for conflict ``row``."""
        combo = self.combos[row]
        combo.setCurrentIndex(max(combo.findData(choice), 0))

    def set_policy(self, policy: str) -> None:
        self.policy_combo.setCurrentIndex(self.policy_combo.findData(policy))

    def resolutions(self) -> dict[str, str]:
        return {conflict.key: combo.currentData() for conflict, combo in
                zip(self.plan.conflicts, self.combos) if combo.currentData()}

    def policy(self) -> str:
        return self.policy_combo.currentData()

    def missing(self) -> int:
        return len(self.plan.conflicts) - len(self.resolutions())

    def update_merge_button(self) -> None:
        missing = self.missing()
        ready = missing == 0 or self.policy() != "ask"
        self.merge_button.setEnabled(ready and not self.is_merging())
        if not self.is_merging():
            self.status.setStyleSheet("")
            self.status.setText("" if ready else tr(
                "{0} conflict(s) still need a choice, or choose a policy for them.").format(
                    missing))

    def _chosen(self, combo: QComboBox, conflict: Conflict) -> None:
        choice = combo.currentData()
        combo.setToolTip(choice_help(conflict, choice) if choice else "")
        self.update_merge_button()

    # --- both versions -------------------------------------------------------------------------
    def selected_conflict(self) -> Optional[Conflict]:
        rows = {index.row() for index in self.conflicts.selectionModel().selectedRows()}
        return self.plan.conflicts[min(rows)] if rows else None

    def _show_versions(self) -> None:
        conflict = self.selected_conflict()
        table = self.versions
        table.setRowCount(0)
        if conflict is None:
            self.versions_caption.setText(tr("Select a conflict to see both versions."))
            return
        mine_title, theirs_title = side_titles(conflict)
        table.setHorizontalHeaderLabels([tr("Field"), mine_title, theirs_title])
        self.versions_caption.setText(tr("<b>{0}</b> — {1} ({2})").format(
            html.escape(record_label(self.plan, conflict)), html.escape(kind_title(
                conflict.kind)), html.escape(table_name(conflict.table))))
        lines = compare(conflict, self.plan.package.srid)
        table.setRowCount(len(lines))
        for row, line in enumerate(lines):
            for col, text in enumerate((line.label, line.mine, line.theirs)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if line.differs:
                    item.setBackground(QBrush(DIFFERS))
                if line.taken:
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                if line.context:
                    item.setForeground(QBrush(CONTEXT))
                table.setItem(row, col, item)

    def version_rows(self) -> list[tuple[str, str, str, bool]]:
        """(field, mine, theirs, highlighted) as shown, for tests and screen readers."""
        table = self.versions
        return [(table.item(r, 0).text(), table.item(r, 1).text(), table.item(r, 2).text(),
                 table.item(r, 1).background().color() == DIFFERS)
                for r in range(table.rowCount())]

    def conflict_rows(self) -> list[list[str]]:
        table = self.conflicts
        return [[table.item(r, c).text() for c in range(RESOLUTION)] +
                [self.combos[r].currentText()] for r in range(table.rowCount())]

    # --- merging -----------------------------------------------------------------------------
    def _merge_clicked(self) -> None:
        if not self.merge_button.isEnabled():
            return
        self.merging()
        self._merge(self.resolutions(), self.policy())

    def merging(self) -> None:
        """The merge runs: choices locked, the bar moves, Cancel stops it."""
        self.progress.setValue(0)
        self.progress.show()
        self.status.setStyleSheet("")
        self.status.setText(tr("Merging…"))
        self.merge_button.setEnabled(False)
        for combo in (*self.combos, self.policy_combo):
            combo.setEnabled(False)

    def is_merging(self) -> bool:
        return not self.progress.isHidden()

    def reject(self) -> None:
        if self.is_merging():
            self.status.setText(tr("Cancelling… nothing will be merged."))
            self.cancel_requested.emit()
            return
        super().reject()

    def set_progress(self, percent: float) -> None:
        self.progress.setValue(int(percent))

    def failed(self, message: str, retry: bool = True) -> None:
        """The merge did not happen: say why, and let the user choose again (unless the
        comparison itself no longer holds: ``retry`` False)."""
        self.progress.hide()
        for combo in (*self.combos, self.policy_combo):
            combo.setEnabled(retry)
        self.update_merge_button()
        self.merge_button.setEnabled(retry and self.merge_button.isEnabled())
        self.status.setStyleSheet(PROBLEM_STYLE)
        self.status.setText(message)


def heading(text: str) -> QLabel:
    label = QLabel(f"<b>{html.escape(text)}</b>")
    label.setWordWrap(True)
    return label


def count_table(lines: list[CountLine], with_enumerator: bool) -> QTableWidget:
    """Added, changed and deleted records per table (and enumerator), no taller than its
    rows."""
    titles = [tr("Table"), tr("Added"), tr("Changed"), tr("Deleted")]
    if with_enumerator:
        titles.insert(0, tr("Enumerator"))
    table = read_only_table(titles)
    table.setRowCount(len(lines))
    for row, line in enumerate(lines):
        cells = [table_name(line.table), str(line.added), str(line.changed), str(line.deleted)]
        if with_enumerator:
            cells.insert(0, enumerator_name(line.enumerator))
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if col >= len(cells) - 3:
                item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
            table.setItem(row, col, item)
    header = table.horizontalHeader()
    for col in range(len(titles) - 3, len(titles)):
        header.setSectionResizeMode(col, QHeaderView.Stretch)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    table.resizeRowsToContents()
    rows_height = sum(table.rowHeight(r) for r in range(min(len(lines), 6)))
    table.setFixedHeight(header.sizeHint().height() + max(rows_height, 24) + 4)
    return table
