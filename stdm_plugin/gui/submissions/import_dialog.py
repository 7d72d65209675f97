"""The "Import submissions" dialog: which export, which mapping, what to do with bad rows.

It only gathers the choices into an ImportRequest; reading the files,
checking the answers and writing the records is the core's work, run in
the background by the plugin once the dialog is accepted. What the dialog
checks is that the choices are complete, so that OK never starts an
import that is bound to fail for lack of a file.
"""
from __future__ import annotations

import os
from typing import Optional

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...core.submissions.submissions import ALL_OR_NOTHING, VALID_ROWS
from ...qgis.i18n import tr
from ...qgis.submissions.import_task import FLAVOURS, ImportRequest

PROBLEM_STYLE = "color: #a94442;"
HINT_STYLE = "color: palette(mid);"


def _hint(text: str) -> QLabel:
    label = QLabel(text)  # not wrapped: a wrapped label squeezes the form it is in
    label.setStyleSheet(HINT_STYLE)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 0.9)
    label.setFont(font)
    return label


def _indented(form: QFormLayout) -> QWidget:
    """The options of one radio button, set in under it so they read as its own."""
    widget = QWidget()
    widget.setLayout(form)
    form.setContentsMargins(24, 0, 0, 4)
    return widget


class ImportDialog(QDialog):
    """Choose the export files, the media folder, the mapping and the mode."""

    def __init__(self, store_label: str, settlements: list[tuple[str, str]],
                 own_form_files: list[str], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Import submissions"))
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Loads what ODK Central or KoBoToolbox exported into the store "
                          "<b>{0}</b>: households, members, parcels, tenure and documents. "
                          "Submissions already in the store are skipped.").format(store_label))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self._export_box())
        layout.addWidget(self._mapping_box(settlements, own_form_files))
        layout.addWidget(self._mode_box())
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(tr("Import"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._mapping_chosen()
        # Qt sizes a window by its widest wrapped text; at the width chosen here the intro
        # takes more lines, so ask for the height that width needs, or the form is squeezed.
        width = max(640, self.minimumSizeHint().width())
        self.resize(width, self.heightForWidth(width))

    # --- the three parts ---------------------------------------------------------
    def _export_box(self) -> QGroupBox:
        box = QGroupBox(tr("Export"))
        form = QFormLayout(box)
        self.files_widget = QgsFileWidget()
        self.files_widget.setStorageMode(QgsFileWidget.GetMultipleFiles)
        self.files_widget.setFilter(tr("Exported submissions (*.csv *.xlsx);;All files (*)"))
        self.files_widget.setDialogTitle(tr("The exported files: the form's and one per "
                                            "repeat group"))
        self.files_widget.lineEdit().setPlaceholderText(tr("the form's file and its repeat files "
                                                           "(CSV or XLSX)"))
        form.addRow(tr("Files"), self.files_widget)
        self.media_widget = QgsFileWidget()
        self.media_widget.setStorageMode(QgsFileWidget.GetDirectory)
        self.media_widget.setDialogTitle(tr("The folder of the photos and files"))
        self.media_widget.lineEdit().setPlaceholderText(tr("optional: where the photos are"))
        form.addRow(tr("Media folder"), self.media_widget)
        return box

    def _mapping_box(self, settlements: list[tuple[str, str]],
                     own_form_files: list[str]) -> QGroupBox:
        box = QGroupBox(tr("Field mapping"))
        layout = QVBoxLayout(box)
        self.own_form = QRadioButton(tr("The plugin's own enumeration form"))
        self.saved_mapping = QRadioButton(tr("A saved mapping file (.yaml), for any other form"))
        group = QButtonGroup(self)
        for button in (self.own_form, self.saved_mapping):
            group.addButton(button)
            button.toggled.connect(self._mapping_chosen)
        own = QFormLayout()
        self.settlement = QComboBox()
        for code, label in settlements:
            self.settlement.addItem(label, code)
        own.addRow(tr("New parcels go in"), self.settlement)
        self.flavour = QComboBox()
        for code, label in zip(FLAVOURS, (tr("ODK Central"), tr("KoBoToolbox"))):
            self.flavour.addItem(label, code)
        own.addRow(tr("Exported by"), self.flavour)
        if own_form_files:
            own.addRow(_hint(tr("Expects {0}.").format(
                tr(" and ").join(own_form_files))))
        self.own_options = _indented(own)
        saved = QFormLayout()
        self.mapping_widget = QgsFileWidget()
        self.mapping_widget.setStorageMode(QgsFileWidget.GetFile)
        self.mapping_widget.setFilter(tr("Field mapping (*.yaml *.yml)"))
        self.mapping_widget.setDialogTitle(tr("The saved field mapping"))
        saved.addRow(tr("Mapping"), self.mapping_widget)
        self.saved_options = _indented(saved)
        for widget in (self.own_form, self.own_options, self.saved_mapping,
                       self.saved_options):
            layout.addWidget(widget)
        if settlements:
            self.own_form.setChecked(True)
        else:
            self.own_form.setEnabled(False)
            self.own_form.setToolTip(tr("The store has no settlement for the new parcels yet: "
                                        "add one to its Settlements layer first."))
            self.saved_mapping.setChecked(True)
        return box

    def _mode_box(self) -> QGroupBox:
        box = QGroupBox(tr("When some rows have problems"))
        layout = QVBoxLayout(box)
        self.all_or_nothing = QRadioButton(tr("All or nothing: import nothing if a row has a "
                                              "problem"))
        self.valid_rows = QRadioButton(tr("Import the valid rows, leave out the others"))
        group = QButtonGroup(self)
        for button in (self.all_or_nothing, self.valid_rows):
            group.addButton(button)
            layout.addWidget(button)
        self.all_or_nothing.setChecked(True)
        return box

    def _mapping_chosen(self) -> None:
        self.own_options.setEnabled(self.own_form.isChecked())
        self.saved_options.setEnabled(self.saved_mapping.isChecked())

    # --- what was chosen ---------------------------------------------------------
    def files(self) -> list[str]:
        return [f for f in QgsFileWidget.splitFilePaths(self.files_widget.filePath()) if f]

    def request(self) -> ImportRequest:
        media = self.media_widget.filePath().strip()
        own = self.own_form.isChecked()
        return ImportRequest(
            files=self.files(),
            mode=VALID_ROWS if self.valid_rows.isChecked() else ALL_OR_NOTHING,
            media_dir=media or None,
            mapping_path=None if own else self.mapping_widget.filePath().strip(),
            settlement_code=str(self.settlement.currentData() or "") if own else "",
            flavour=str(self.flavour.currentData()) if own else FLAVOURS[0])

    def missing(self) -> str:
        """What is still to choose (or does not exist), empty when the import can start."""
        request = self.request()
        if not request.files:
            return tr("Choose the exported files.")
        absent = [f for f in request.files if not os.path.isfile(f)]
        if absent:
            return tr("No such file: {0}").format(", ".join(absent))
        if request.media_dir and not os.path.isdir(request.media_dir):
            return tr("No such folder: {0}").format(request.media_dir)
        if self.saved_mapping.isChecked():
            if not request.mapping_path:
                return tr("Choose the saved mapping file.")
            if not os.path.isfile(request.mapping_path):
                return tr("No such file: {0}").format(request.mapping_path)
        elif not request.settlement_code:
            return tr("Choose the settlement that new parcels go in.")
        return ""

    def accept(self) -> None:
        missing = self.missing()
        self.problem.setText(missing)
        self.problem.setVisible(bool(missing))
        if not missing:
            super().accept()
