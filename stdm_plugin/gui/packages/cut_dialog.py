"""The "Create field package…" dialog: for which team, which area, what personal data, where.

A package is the part of the store a team takes to the field: the blocks
it enumerates (or an area drawn as polygons and selected on the map), the
parcels within the margin around it, the claims, households and documents
on those. The team's name is required (it is how the package is known when
it comes back); the enumerators and the device are optional. The dialog
only gathers the choices; the plugin cuts the package in the background
(qgis/packages/cut_task.py).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QSize, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...core.packages.field_package import PackageRequest
from ...qgis.i18n import tr

PROBLEM_STYLE = "color: #a94442;"
HINT_STYLE = "color: palette(mid);"
BLOCKS, SELECTION = "blocks", "selection"
#: how many rows of blocks the list shows before it scrolls
BLOCK_ROWS = 5


def personal_data_choices() -> list[tuple[str, str, str]]:
    """(mode, label, one line on what the team then has), "include" first: the default,
    since enumerators check households by name."""
    return [
        ("include", tr("Include"),
         tr("Names, dates of birth, ID and phone numbers as recorded, and the scans of "
            "identity documents and signed forms: the team can check each household.")),
        ("omit", tr("Leave out"),
         tr("Names, dates of birth, ID and phone numbers and person documents stay in the "
            "office; a lost tablet names nobody. Parcel photos and plans go.")),
        ("pseudonymise", tr("Pseudonymise"),
         tr("Names, ID and phone numbers become codes under a secret key shown once after "
            "the cut; dates of birth become ages. Person documents stay in the office.")),
    ]


@dataclass
class SelectionArea:
    """The active polygon layer and how many of its features are selected."""

    layer_name: str
    selected: int


@dataclass
class PackageChoice:
    """What the dialog gathered: the new folder, and the request (area from the map
    selection is filled in by the caller, which has the layer)."""

    folder: str
    request: PackageRequest
    area: str = BLOCKS


def folder_name(team: str) -> str:
    """A folder name from the team's name: 'Equipe A' -> 'package-equipe-a'."""
    slug = re.sub(r"[^\w]+", "-", team.strip().lower(), flags=re.UNICODE).strip("-")
    return f"package-{slug}" if slug else "package"


class FieldPackageDialog(QDialog):
    def __init__(self, store_label: str, blocks: Sequence[tuple[str, int]],
                 selection: Optional[SelectionArea] = None, base_folder: str = "",
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Create field package — {0}").format(store_label))
        self.base_folder = base_folder
        self._folder_typed = False
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self._team_box())
        layout.addWidget(self._area_box(blocks, selection))
        layout.addWidget(self._privacy_box())
        layout.addWidget(self._folder_box())
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(tr("Create package"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._area_chosen()
        width = max(640, self.minimumSizeHint().width())
        self.resize(width, self.sizeHint().height())

    # --- the parts ------------------------------------------------------------------------
    def _team_box(self) -> QGroupBox:
        box = QGroupBox(tr("Who"))
        form = QFormLayout(box)
        self.team = QLineEdit()
        self.team.setPlaceholderText(tr("required, e.g. Equipe A"))
        self.team.textChanged.connect(self._team_typed)
        form.addRow(tr("Team"), self.team)
        self.enumerators = QLineEdit()
        self.enumerators.setPlaceholderText(tr("optional, separated by commas: moussa, aya"))
        form.addRow(tr("Enumerators"), self.enumerators)
        self.device = QLineEdit()
        self.device.setPlaceholderText(tr("optional, e.g. tablet-07"))
        form.addRow(tr("Device"), self.device)
        return box

    def _area_box(self, blocks: Sequence[tuple[str, int]],
                  selection: Optional[SelectionArea]) -> QGroupBox:
        box = QGroupBox(tr("Area"))
        layout = QVBoxLayout(box)
        group = QButtonGroup(self)
        self.by_blocks = QRadioButton(tr("These blocks of the store:"))
        layout.addWidget(self.by_blocks)
        self.blocks = QListWidget()
        self.blocks.setSelectionMode(QAbstractItemView.MultiSelection)
        self.blocks.setFlow(QListWidget.LeftToRight)
        self.blocks.setWrapping(True)
        self.blocks.setResizeMode(QListWidget.Adjust)
        self.parcels_in: dict[str, int] = dict(blocks)
        metrics = self.blocks.fontMetrics()
        widest = 0
        for block, parcels in blocks:
            item = QListWidgetItem(tr("{0} ({1})").format(block, parcels))
            item.setData(Qt.UserRole, block)
            item.setToolTip(tr("{0} parcels").format(parcels))
            self.blocks.addItem(item)
            widest = max(widest, metrics.horizontalAdvance(item.text()))
        if blocks:  # a grid of whole cells, five rows, then the list scrolls
            cell = QSize(widest + 18, metrics.height() + 6)
            self.blocks.setGridSize(cell)
            self.blocks.setFixedHeight(BLOCK_ROWS * cell.height() + 2 * self.blocks.frameWidth())
        self.blocks.itemSelectionChanged.connect(self._blocks_chosen)
        layout.addWidget(self.blocks)
        self.blocks_chosen = self._hint(tr("The store's parcels have no blocks.") if not blocks
                                        else "")
        layout.addWidget(self.blocks_chosen)
        text = (tr("The {0} feature(s) selected on the layer {1}").format(
            selection.selected, selection.layer_name) if selection is not None
            else tr("The features selected on the active polygon layer (none is active)"))
        self.by_selection = QRadioButton(text)
        self.by_selection.setEnabled(selection is not None and selection.selected > 0)
        layout.addWidget(self.by_selection)
        for button in (self.by_blocks, self.by_selection):
            group.addButton(button)
            button.toggled.connect(self._area_chosen)
        (self.by_selection if self.by_selection.isEnabled() and not blocks
         else self.by_blocks).setChecked(True)
        form = QFormLayout()
        self.margin = QDoubleSpinBox()
        self.margin.setRange(0.0, 1000.0)
        self.margin.setDecimals(1)
        self.margin.setValue(PackageRequest.margin_m)
        self.margin.setSuffix(" m")
        form.addRow(tr("And the parcels within"), self.margin)
        layout.addLayout(form)
        return box

    def _privacy_box(self) -> QGroupBox:
        box = QGroupBox(tr("Personal data"))
        grid = QGridLayout(box)
        group = QButtonGroup(self)
        self.privacy: dict[str, QRadioButton] = {}
        for row, (mode, label, explanation) in enumerate(personal_data_choices()):
            button = QRadioButton(label)
            group.addButton(button)
            self.privacy[mode] = button
            text = QLabel(explanation)
            text.setWordWrap(True)
            grid.addWidget(button, row, 0, Qt.AlignTop)
            grid.addWidget(text, row, 1, Qt.AlignTop)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(10)
        self.privacy["include"].setChecked(True)
        return box

    def _folder_box(self) -> QGroupBox:
        box = QGroupBox(tr("Where"))
        form = QFormLayout(box)
        self.folder = QgsFileWidget()
        self.folder.setStorageMode(QgsFileWidget.GetDirectory)
        self.folder.setFilePath(os.path.join(self.base_folder, folder_name(""))
                                if self.base_folder else "")
        self.folder.fileChanged.connect(self._folder_chosen)
        form.addRow(tr("New folder"), self.folder)
        form.addRow("", self._hint(tr("A folder that does not exist yet, or is empty. It "
                                      "gets the package's store, its QGIS project for QGIS "
                                      "and QField, the forms and package.json.")))
        return box

    @staticmethod
    def _hint(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setStyleSheet(HINT_STYLE)
        return label

    # --- choices that change others ----------------------------------------------------------
    def _area_chosen(self) -> None:
        self.blocks.setEnabled(self.by_blocks.isChecked())

    def _blocks_chosen(self) -> None:
        chosen = self.chosen_blocks()
        self.blocks_chosen.setText(tr("{0} block(s) chosen, {1} parcels, and the parcels "
                                      "within the margin around them.").format(
            len(chosen), sum(self.parcels_in.get(b, 0) for b in chosen)) if chosen else "")
        self.problem.hide()

    def _team_typed(self, team: str) -> None:
        """The folder follows the team's name until the user picks one."""
        self.problem.hide()
        if self.base_folder and not self._folder_typed:
            self.folder.blockSignals(True)
            self.folder.setFilePath(os.path.join(self.base_folder, folder_name(team)))
            self.folder.blockSignals(False)

    def _folder_chosen(self) -> None:
        self._folder_typed = True

    # --- what was chosen ------------------------------------------------------------------------
    def chosen_blocks(self) -> list[str]:
        return [item.data(Qt.UserRole) for item in self.blocks.selectedItems()]

    def choose_blocks(self, blocks: Sequence[str]) -> None:
        self.by_blocks.setChecked(True)
        wanted = set(blocks)
        for index in range(self.blocks.count()):
            item = self.blocks.item(index)
            item.setSelected(item.data(Qt.UserRole) in wanted)

    def choice(self) -> PackageChoice:
        mode = next(m for m, button in self.privacy.items() if button.isChecked())
        area = SELECTION if self.by_selection.isChecked() else BLOCKS
        request = PackageRequest(
            team=self.team.text().strip(),
            blocks=self.chosen_blocks() if area == BLOCKS else (),
            enumerators=[e.strip() for e in self.enumerators.text().split(",") if e.strip()],
            device=self.device.text().strip() or None, margin_m=self.margin.value(),
            personal_data=mode)
        return PackageChoice(self.folder.filePath().strip(), request, area)

    def missing(self) -> str:
        choice = self.choice()
        if not choice.request.team:
            return tr("Name the team the package is for.")
        if choice.area == BLOCKS and not choice.request.blocks:
            return tr("Choose at least one block, or take the features selected on the map.")
        if not choice.folder:
            return tr("Choose the new folder for the package.")
        if os.path.exists(choice.folder) and (not os.path.isdir(choice.folder)
                                              or os.listdir(choice.folder)):
            return tr("{0} already exists and is not empty; choose a new folder.").format(
                choice.folder)
        return ""

    def accept(self) -> None:
        missing = self.missing()
        self.problem.setText(missing)
        self.problem.setVisible(bool(missing))
        if not missing:
            super().accept()
