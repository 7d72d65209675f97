"""Read-only tables the dialogs share: the look of a list, and a window of events."""
from __future__ import annotations

from typing import Sequence

from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def read_only_table(titles: Sequence[str], *, many: bool = False,
                    parent: QWidget | None = None) -> QTableWidget:
    """A table of whole rows, not editable, sized to its contents; ``many`` lets the
    user select several rows."""
    table = QTableWidget(0, len(titles), parent)
    table.setHorizontalHeaderLabels(list(titles))
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.ExtendedSelection if many
                           else QAbstractItemView.SingleSelection)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    return table


def events_window(parent: QWidget | None, title: str, caption: str, titles: Sequence[str],
                  rows: Sequence[Sequence[tuple[str, str]]], size: tuple[int, int]) -> QDialog:
    """A window listing events, oldest first; each cell is (text, tooltip)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    table = read_only_table(titles, parent=dialog)
    table.setRowCount(len(rows))
    for row, cells in enumerate(rows):
        for column, (text, tip) in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            table.setItem(row, column, item)
    table.horizontalHeader().setStretchLastSection(True)
    layout.addWidget(QLabel(caption))
    layout.addWidget(table)
    buttons = QDialogButtonBox(QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    dialog.resize(*size)
    return dialog
