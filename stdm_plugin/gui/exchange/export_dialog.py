"""The "Export…" dialog: what goes out of the store, in which format and CRS, and who it names.

An export leaves the office, so the personal data choice comes with one
line on what each option does, and "leave out" is the default: a file sent
by mistake then names nobody. The whole store (or one settlement) can go
out, or only the parcels created, changed or retired since a date, for a
cadastre that already has the rest. The dialog gathers the choices into an
ExportRequest; the plugin runs the core's export in the background.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from qgis.core import QgsCoordinateReferenceSystem
from qgis.gui import QgsFileWidget, QgsProjectionSelectionWidget
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...core.exchange.layers import LAYER_CHOICES
from ...qgis.i18n import tr

PROBLEM_STYLE = "color: #a94442;"
HINT_STYLE = "color: palette(mid);"
DEFAULT_FILE = "stdm_export.gpkg"


def format_names() -> dict[str, str]:
    return {"gpkg": tr("GeoPackage (one file, every layer)"),
            "shp": tr("Shapefile (one per layer; tables as CSV)"),
            "geojson": tr("GeoJSON (one file per layer)"), "csv": tr("CSV (WKT geometry)")}


def layer_names() -> dict[str, str]:
    return {"parcels": tr("Parcels"), "structures": tr("Structures (footprints and points)"),
            "parties": tr("Parties"), "tenure": tr("Tenure"),
            "certificates": tr("Certificate register")}


def personal_data_choices() -> list[tuple[str, str, str]]:
    """(mode, label, one line on what it does), "omit" first: the default."""
    return [
        ("omit", tr("Leave out"),
         tr("Names, dates of birth, ID and phone numbers and remarks about persons are not "
            "written; the file names nobody.")),
        ("pseudonymise", tr("Pseudonymise"),
         tr("Names, ID and phone numbers become codes (the same person, the same code) under "
            "a secret key you keep; dates of birth become ages.")),
        ("include", tr("Include"),
         tr("Everything as recorded, names and numbers included: only for someone entitled "
            "to see them.")),
    ]


@dataclass
class ExportRequest:
    """What to export, as the core's export_store / export_changes take it."""

    target: str
    format: str = "gpkg"
    crs: str = ""  #: "EPSG:xxxx"
    layers: list[str] = field(default_factory=lambda: list(LAYER_CHOICES))
    personal_data: str = "omit"
    settlement_id: Optional[str] = None
    include_retired: bool = False
    #: ISO date: only the parcels created, changed or retired since then
    since: Optional[str] = None
    #: hex key of an earlier pseudonymised export, for matching pseudonyms
    pseudonym_key: Optional[str] = None


class ExportDialog(QDialog):
    def __init__(self, store_label: str, store_crs: str, settlements: list[tuple[str, str]],
                 folder: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Export — {0}").format(store_label))
        layout = QVBoxLayout(self)
        layout.addWidget(self._what_box(settlements))
        layout.addWidget(self._how_box(store_crs, folder))
        layout.addWidget(self._privacy_box())
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(tr("Export"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._mode_chosen()
        self._format_chosen()
        self._privacy_chosen()
        width = max(680, self.minimumSizeHint().width())
        self.resize(width, self.heightForWidth(width))

    # --- the parts ------------------------------------------------------------------------
    def _what_box(self, settlements: list[tuple[str, str]]) -> QGroupBox:
        box = QGroupBox(tr("What"))
        layout = QVBoxLayout(box)
        form = QFormLayout()
        self.settlement = QComboBox()
        self.settlement.addItem(tr("All settlements"), None)
        for settlement_id, label in settlements:
            self.settlement.addItem(label, settlement_id)
        form.addRow(tr("Settlement"), self.settlement)
        layout.addLayout(form)
        self.whole = QRadioButton(tr("The records of the store"))
        self.changes = QRadioButton(tr("Only the parcels created, changed or retired since"))
        group = QButtonGroup(self)
        for button in (self.whole, self.changes):
            group.addButton(button)
            button.toggled.connect(self._mode_chosen)
        layout.addWidget(self.whole)
        grid = QGridLayout()
        grid.setContentsMargins(24, 0, 0, 4)
        self.layer_boxes: dict[str, QCheckBox] = {}
        for index, (name, label) in enumerate(layer_names().items()):
            check = QCheckBox(label)
            check.setChecked(True)
            self.layer_boxes[name] = check
            grid.addWidget(check, index // 3, index % 3)
        self.include_retired = QCheckBox(tr("With retired records (their history)"))
        grid.addWidget(self.include_retired, 2, 0, 1, 3)
        self.layers_widget = QWidget()
        self.layers_widget.setLayout(grid)
        layout.addWidget(self.layers_widget)
        since_row = QHBoxLayout()
        since_row.addWidget(self.changes)
        self.since = QDateEdit(QDate.currentDate().addMonths(-1))
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        since_row.addWidget(self.since)
        since_row.addStretch(1)
        layout.addLayout(since_row)
        self.whole.setChecked(True)
        return box

    def _how_box(self, store_crs: str, folder: str) -> QGroupBox:
        box = QGroupBox(tr("Format and place"))
        form = QFormLayout(box)
        self.format = QComboBox()
        for code, label in format_names().items():
            self.format.addItem(label, code)
        self.format.currentIndexChanged.connect(self._format_chosen)
        form.addRow(tr("Format"), self.format)
        self.crs = QgsProjectionSelectionWidget()
        self.crs.setCrs(QgsCoordinateReferenceSystem(store_crs))
        form.addRow(tr("CRS"), self.crs)
        self.target = QgsFileWidget()
        self.target.setFilePath(os.path.join(folder, DEFAULT_FILE) if folder else "")
        form.addRow(tr("Save to"), self.target)
        self.target_hint = QLabel()
        self.target_hint.setStyleSheet(HINT_STYLE)
        form.addRow("", self.target_hint)
        return box

    def _privacy_box(self) -> QGroupBox:
        box = QGroupBox(tr("Personal data"))
        grid = QGridLayout(box)
        group = QButtonGroup(self)
        self.privacy: dict[str, QRadioButton] = {}
        for row, (mode, label, explanation) in enumerate(personal_data_choices()):
            button = QRadioButton(label)
            group.addButton(button)
            button.toggled.connect(self._privacy_chosen)
            self.privacy[mode] = button
            text = QLabel(explanation)
            text.setWordWrap(True)
            grid.addWidget(button, row, 0, Qt.AlignTop)
            grid.addWidget(text, row, 1, Qt.AlignTop)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(10)
        self.privacy["omit"].setChecked(True)
        self.key = QLineEdit()
        self.key.setPlaceholderText(tr("optional: the key of an earlier export, for the same "
                                       "pseudonyms"))
        key_row = QHBoxLayout()
        key_row.setContentsMargins(24, 0, 0, 0)
        key_row.addWidget(QLabel(tr("Key")))
        key_row.addWidget(self.key, 1)
        grid.addLayout(key_row, len(self.privacy), 0, 1, 2)
        return box

    # --- choices that change others -----------------------------------------------------------
    def _mode_chosen(self) -> None:
        self.layers_widget.setEnabled(self.whole.isChecked())
        self.since.setEnabled(self.changes.isChecked())
        self._privacy_chosen()

    def _format_chosen(self) -> None:
        fmt = self.format.currentData()
        if fmt == "gpkg":
            self.target.setStorageMode(QgsFileWidget.SaveFile)
            self.target.setFilter(tr("GeoPackage (*.gpkg)"))
            self.target_hint.setText(tr("A .gpkg file (its data dictionary is written beside "
                                        "it), or a folder."))
        else:
            self.target.setStorageMode(QgsFileWidget.GetDirectory)
            self.target_hint.setText(tr("A folder: one file per layer and the data dictionary "
                                        "are written in it."))
            path = self.target.filePath().strip()
            if path.lower().endswith(".gpkg"):
                self.target.setFilePath(os.path.dirname(path))

    def _privacy_chosen(self) -> None:
        if hasattr(self, "key"):  # the key matches pseudonyms of whole-store exports only
            self.key.setEnabled(self.privacy["pseudonymise"].isChecked()
                                and self.whole.isChecked())

    # --- what was chosen ------------------------------------------------------------------------
    def request(self) -> ExportRequest:
        mode = next(m for m, button in self.privacy.items() if button.isChecked())
        crs = self.crs.crs()
        key = self.key.text().strip()
        return ExportRequest(
            target=self.target.filePath().strip(), format=str(self.format.currentData()),
            crs=crs.authid() if crs.isValid() else "",
            layers=[n for n, check in self.layer_boxes.items() if check.isChecked()],
            personal_data=mode, settlement_id=self.settlement.currentData(),
            include_retired=self.include_retired.isChecked(),
            since=self.since.date().toString("yyyy-MM-dd") if self.changes.isChecked()
            else None,
            pseudonym_key=key if key and self.key.isEnabled() else None)

    def missing(self) -> str:
        request = self.request()
        if not request.target:
            return tr("Choose where to save the export.")
        if request.since is None and not request.layers:
            return tr("Choose at least one layer.")
        if not request.crs:
            return tr("Choose the CRS to export in.")
        return ""

    def accept(self) -> None:
        missing = self.missing()
        self.problem.setText(missing)
        self.problem.setVisible(bool(missing))
        if not missing:
            super().accept()
