"""The "Issue certificates…" dialog: which parcels, which template, where to.

The parcels offered are read before the dialog opens (``parcel_choices``),
so the dialog holds no connection to the store and its counts change
live as the land officer switches between the map selection, a block and
every approved parcel. A template is checked when it is chosen and again
on Issue: one without the required items would fail for every parcel, so
it is refused here, naming the file and the missing item ids. The
template chosen is remembered in the project, so that each land office's
project keeps its own.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Optional

from qgis.core import QgsProject
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ...core.certificates.batch import approved_parcels
from ...qgis.certificates.task import IssueRequest, output_folder_problem, template_problem
from ...qgis.i18n import tr

PROBLEM_STYLE = "color: #a94442;"
PROJECT_SCOPE = "stdm"
TEMPLATE_ENTRY = "certificate_template"  #: "en", "fr" or the path of a .qpt file
LANGUAGE_ENTRY = "certificate_language"  #: the words' language with a custom template
CUSTOM = "custom"
#: a merged PDF is drawn in one go on the main thread: about this long a page (measured)
MERGED_SECONDS_PER_PAGE = 0.075
MERGED_NOTE_FROM = 40
#: the dialog's three ways of choosing parcels
MAP, BLOCK, ALL = "map", "block", "all"


@dataclass
class BlockChoice:
    settlement_code: str
    block: str
    ready: list[str]  #: ids of its parcels ready to certify, by code


@dataclass
class ParcelChoices:
    """The parcels a batch can take, read from the store before the dialog opens."""

    selected: list[str] = field(default_factory=list)  #: parcels selected on the map
    selected_ready: int = 0  #: how many of those are ready to certify
    blocks: list[BlockChoice] = field(default_factory=list)
    approved: list[str] = field(default_factory=list)  #: every parcel ready, by code


def selected_parcel_ids(parcels_layer) -> list[str]:
    """The ids of the parcels selected on the map, in the order of their codes."""
    names = parcels_layer.fields().names()
    id_field = names.index("id")
    code_field = names.index("code") if "code" in names else id_field
    features = sorted(parcels_layer.selectedFeatures(),
                      key=lambda f: str(f.attribute(code_field) or ""))
    return [str(f.attribute(id_field)) for f in features]


def parcel_choices(store, selected: list[str]) -> ParcelChoices:
    """What each way of choosing would issue. "Ready" is the core's ``approved_parcels``:
    every current claim approved and no valid certificate yet."""
    approved = approved_parcels(store)
    ready = set(approved)
    sites = {s.id: s.code for s in store.settlements.find()}
    where = {u.id: (sites.get(u.settlement_id, ""), u.block)
             for u in store.spatial_units.find("kind = 'parcel'")}
    blocks: dict[tuple[str, str], BlockChoice] = {}
    for site, block in where.values():
        if block:
            blocks.setdefault((site, block), BlockChoice(site, block, []))
    for parcel_id in approved:
        site, block = where.get(parcel_id, ("", None))
        if block:
            blocks[(site, block)].ready.append(parcel_id)
    return ParcelChoices(selected=list(selected),
                         selected_ready=sum(1 for p in selected if p in ready),
                         blocks=[blocks[key] for key in sorted(blocks)], approved=approved)


def remembered_template(language: str) -> tuple[str, str]:
    """(template, words' language) kept in the project; the shipped one in ``language``."""
    project = QgsProject.instance()
    template, _ = project.readEntry(PROJECT_SCOPE, TEMPLATE_ENTRY, "")
    template = template.strip()
    if template.startswith("shipped:"):  # as the register keeps it
        template = template.split(":", 1)[1]
    words, _ = project.readEntry(PROJECT_SCOPE, LANGUAGE_ENTRY, "")
    default = language if language in ("en", "fr") else "en"
    return (template or default), (words if words in ("en", "fr") else default)


def remember_template(template: str, language: str) -> None:
    project = QgsProject.instance()
    project.writeEntry(PROJECT_SCOPE, TEMPLATE_ENTRY, template)
    project.writeEntry(PROJECT_SCOPE, LANGUAGE_ENTRY, language)


class IssueDialog(QDialog):
    """Choose the parcels, the template and the output folder; Issue starts nothing
    itself: the caller reads ``request()`` once the dialog is accepted."""

    def __init__(self, store_label: str, signed_in: str, choices: ParcelChoices,
                 language: str, out_dir: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.choices = choices
        self.setWindowTitle(tr("Issue certificates"))
        self.setMinimumWidth(600)
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Occupancy certificates for parcels of <b>{0}</b>, issued by "
                          "<b>{1}</b>. Each one is numbered, signed and written as a PDF "
                          "named after its number.").format(html.escape(store_label),
                                                            html.escape(signed_in)))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.problem = QLabel()  # why Issue did not start; below the three groups
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.problem.hide()
        layout.addWidget(self._parcels_box())
        layout.addWidget(self._template_box(language))
        layout.addWidget(self._output_box(out_dir))
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.issue_button = buttons.button(QDialogButtonBox.Ok)
        self.issue_button.setText(tr("Issue"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.mode_buttons[MAP if choices.selected else ALL].setChecked(True)
        self._update_count()

    # --- the three groups -----------------------------------------------------------
    def _parcels_box(self) -> QGroupBox:
        box = QGroupBox(tr("Parcels"))
        grid = QVBoxLayout(box)
        self.modes = QButtonGroup(self)
        self.mode_buttons = {
            MAP: QRadioButton(tr("Parcels selected on the map ({0})").format(
                len(self.choices.selected))),
            BLOCK: QRadioButton(tr("The approved parcels of a block:")),
            ALL: QRadioButton(tr("All approved parcels of the store ({0})").format(
                len(self.choices.approved)))}
        self.block = QComboBox()
        self.block.setMinimumContentsLength(18)
        sites = {b.settlement_code for b in self.choices.blocks}
        for choice in self.choices.blocks:
            name = choice.block if len(sites) < 2 else f"{choice.settlement_code} {choice.block}"
            self.block.addItem(tr("{0} — {1} ready").format(name, len(choice.ready)),
                               choice.ready)
        self.mode_buttons[MAP].setEnabled(bool(self.choices.selected))
        self.mode_buttons[BLOCK].setEnabled(bool(self.choices.blocks))
        for mode, button in self.mode_buttons.items():
            self.modes.addButton(button)
            button.toggled.connect(self._update_count)
            if mode == BLOCK:
                row = QHBoxLayout()
                row.addWidget(button)
                row.addWidget(self.block, 1)
                grid.addLayout(row)
            else:
                grid.addWidget(button)
        self.block.currentIndexChanged.connect(self._update_count)
        self.count = QLabel()
        self.count.setWordWrap(True)
        grid.addWidget(self.count)
        return box

    def _template_box(self, language: str) -> QGroupBox:
        box = QGroupBox(tr("Template"))
        form = QFormLayout(box)
        self.template = QComboBox()
        self.template.addItem(tr("Shipped template, English"), "en")
        self.template.addItem(tr("Shipped template, French"), "fr")
        self.template.addItem(tr("Custom template (.qpt file)"), CUSTOM)
        form.addRow(tr("Template:"), self.template)
        self.custom_path = QLineEdit()
        self.custom_path.setPlaceholderText(tr("a QGIS print layout template"))
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self._choose_template)
        row = QHBoxLayout()
        row.addWidget(self.custom_path, 1)
        row.addWidget(browse)
        self.custom_row = QWidget()
        self.custom_row.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow(tr("File:"), self.custom_row)
        self.words = QComboBox()
        self.words.addItem(tr("English"), "en")
        self.words.addItem(tr("French"), "fr")
        form.addRow(tr("Words in:"), self.words)
        self.template_note = QLabel()
        self.template_note.setWordWrap(True)
        self.template_note.setStyleSheet(PROBLEM_STYLE)
        form.addRow(self.template_note)
        template, words = remembered_template(language)
        self.words.setCurrentIndex(max(0, self.words.findData(words)))
        if template in ("en", "fr"):
            self.template.setCurrentIndex(self.template.findData(template))
        else:
            self.template.setCurrentIndex(self.template.findData(CUSTOM))
            self.custom_path.setText(template)
        self.template.currentIndexChanged.connect(self._template_changed)
        self.custom_path.editingFinished.connect(self._template_changed)
        self._template_changed()
        return box

    def _output_box(self, out_dir: str) -> QGroupBox:
        box = QGroupBox(tr("Output"))
        form = QFormLayout(box)
        self.out_dir = QLineEdit(out_dir)
        browse = QPushButton(tr("Browse…"))
        browse.clicked.connect(self._choose_folder)
        row = QHBoxLayout()
        row.addWidget(self.out_dir, 1)
        row.addWidget(browse)
        form.addRow(tr("Folder:"), row)
        self.merged = QCheckBox(tr("Also write one merged PDF of all the certificates issued"))
        self.merged.toggled.connect(self._update_count)
        form.addRow(self.merged)
        note = QLabel(tr("A report of the batch (CSV) is written beside the PDFs."))
        note.setStyleSheet("color: #555;")
        form.addRow(note)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.Password)
        self.passphrase.setToolTip(tr("The office key signs every certificate; the "
                                      "administrator who made it gave you its passphrase."))
        form.addRow(tr("Office key passphrase:"), self.passphrase)
        return box

    # --- what was chosen --------------------------------------------------------------
    def mode(self) -> str:
        return next(m for m, b in self.mode_buttons.items() if b.isChecked())

    def choose_mode(self, mode: str, block: Optional[str] = None) -> None:
        if block is not None:
            names = [c.block for c in self.choices.blocks]
            self.block.setCurrentIndex(names.index(block))
        self.mode_buttons[mode].setChecked(True)

    def parcel_ids(self) -> list[str]:
        mode = self.mode()
        if mode == MAP:
            return list(self.choices.selected)
        if mode == BLOCK:
            return list(self.block.currentData() or [])
        return list(self.choices.approved)

    def template_choice(self) -> str:
        """ "en", "fr" or the custom template's path."""
        data = self.template.currentData()
        return self.custom_path.text().strip() if data == CUSTOM else data

    def request(self) -> IssueRequest:
        return IssueRequest(parcel_ids=self.parcel_ids(), out_dir=self.out_dir.text().strip(),
                            template=self.template_choice(), language=self.words.currentData(),
                            merged=self.merged.isChecked())

    def accept(self) -> None:
        request = self.request()
        problems = [] if request.parcel_ids else [tr("No parcels to issue: choose others.")]
        if not self.passphrase.text():
            problems.append(tr("Type the office key's passphrase: it signs the certificates."))
        problems += [p for p in (template_problem(request.template_path),
                                 output_folder_problem(request.out_dir)) if p]
        if problems:
            self._note(self.problem, "\n".join(problems))
            return
        remember_template(request.template, request.language)
        super().accept()

    # --- keeping the dialog up to date ------------------------------------------------
    def _update_count(self, *_args) -> None:
        ids = self.parcel_ids()
        self.block.setEnabled(self.mode() == BLOCK)
        text = tr("{0} parcel(s) in this batch.").format(len(ids))
        if self.mode() == MAP and len(ids) > self.choices.selected_ready:
            text += " " + tr("{0} of them are ready to certify; the others will be listed "
                             "in the report with the reasons.").format(
                                 self.choices.selected_ready)
        if self.merged.isChecked() and len(ids) >= MERGED_NOTE_FROM:
            text += " " + tr("The merged PDF is drawn once all are issued, in about {0} s "
                             "during which QGIS waits.").format(
                                 round(len(ids) * MERGED_SECONDS_PER_PAGE))
        self.count.setText(text)
        self.issue_button.setEnabled(bool(ids))
        self._note(self.problem, "")

    def _template_changed(self, *_args) -> None:
        custom = self.template.currentData() == CUSTOM
        self.custom_row.setEnabled(custom)
        self.words.setEnabled(custom)
        if not custom:
            self.words.setCurrentIndex(self.words.findData(self.template.currentData()))
        path = self.template_choice()
        problem = "" if custom and not path else template_problem(
            IssueRequest([], "", template=path).template_path)
        self._note(self.template_note, problem)
        self._note(self.problem, "")

    def _note(self, label: QLabel, text: str) -> None:
        """Show (or hide) a problem, growing the dialog rather than squeezing its fields."""
        label.setText(text)
        label.setVisible(bool(text))
        self._fit_height()

    def _fit_height(self) -> None:
        """The height the wrapped texts need at the dialog's width (not more, not less)."""
        if not self.isVisible():
            return
        layout = self.layout()
        layout.activate()
        width = self.width()
        height = (layout.heightForWidth(width) if layout.hasHeightForWidth()
                  else layout.sizeHint().height())
        self.resize(width, max(height, layout.minimumSize().height()))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()

    def _choose_template(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, tr("Certificate template"), os.path.dirname(self.custom_path.text()),
            tr("QGIS print layout template (*.qpt);;All files (*)"))
        if path:
            self.custom_path.setText(path)
            self._template_changed()

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, tr("Folder for the certificates"),
                                                self.out_dir.text())
        if path:
            self.out_dir.setText(path)
