"""The pages of the "Enumerate household" wizard: a section, the parcel, a repeat.

Each page only collects answers and shows the problems the wizard hands
it (they come from the core's check_enumeration); it knows no rules.
"""
from __future__ import annotations

import html
from typing import Any

from qgis.core import QgsFeature, QgsVectorLayer
from qgis.gui import QgsMapToolIdentifyFeature
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from ...core import Party
from ...core.forms.enumeration import AnswerProblem
from ...core.forms.forms import Section
from ...qgis.forms.rules import text_in
from ...qgis.i18n import tr
from .answer_widgets import AnswerContext
from .section_editor import PROBLEM_COLOUR, SectionEditor

MAX_LINES = 6


class ProblemBox(QLabel):
    """The problems of a page, under its questions, in red."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.PlainText)
        self.setStyleSheet(f"QLabel {{ color: {PROBLEM_COLOUR}; border: 1px solid "
                           f"{PROBLEM_COLOUR}; border-radius: 3px; padding: 4px; }}")
        self.hide()

    def show_lines(self, lines: list[str]) -> None:
        if len(lines) > MAX_LINES:  # the questions must stay in sight
            lines = lines[:MAX_LINES - 1] + [tr("… and {0} more").format(
                len(lines) - MAX_LINES + 1)]
        self.setText("\n".join(lines))
        self.setVisible(bool(lines))


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setWidget(widget)
    return area


class SectionPage(QWizardPage):
    """One non-repeated section: the household's questions."""

    def __init__(self, section: Section, context: AnswerContext) -> None:
        super().__init__()
        self.section = section
        self.context = context
        self.setTitle(text_in(section.title, context.lang))
        self.editor = SectionEditor(section.questions, context)
        self.editor.changed.connect(self.recheck)
        self.problem_box = ProblemBox()
        self.body = QVBoxLayout(self)
        self.body.addWidget(scrolled(self.editor), 1)
        self.body.addWidget(self.problem_box)

    def section_names(self) -> set[str]:
        """The sections whose problems this page shows and must clear before Next."""
        return {self.section.name}

    def answers(self) -> dict[str, Any]:
        return {self.section.name: self.editor.answers()}

    def own_problems(self) -> list[str]:
        """What the page itself still needs (not answers: e.g. a parcel picked on the map)."""
        return []

    def show_problems(self, problems: list[tuple[AnswerProblem, str]],
                      focus: bool = True) -> None:
        """``focus``: bring the first problem into view (on Next, not while typing)."""
        self.editor.mark({p.question: text for p, text in problems})
        self.problem_box.show_lines(self.own_problems() + [text for _, text in problems])

    def entry_title(self, index: int) -> str:
        return ""

    def validatePage(self) -> bool:
        return self.wizard().check_page(self)

    def recheck(self) -> None:
        """Once problems are shown, they follow the answers: a fixed one goes away."""
        if self.problem_box.isVisible() and self.wizard() is not None:
            self.wizard().check_page(self, focus=False)

    def release(self) -> None:
        self.editor.release()


class ParcelPage(SectionPage):
    """Either the parcel selected on the map, or a new one drawn and described."""

    def __init__(self, section: Section, context: AnswerContext, parcels: QgsVectorLayer,
                 settlements: list[tuple[str, str]]) -> None:
        super().__init__(section, context)
        self.parcels = parcels
        choice = QGroupBox(tr("Which parcel does the household live on?"))
        top = QFormLayout(choice)
        self.pick = QRadioButton(tr("The parcel selected on the map:"))
        self.draw = QRadioButton(tr("A new parcel, drawn on the map"))
        self.modes = QButtonGroup(self)
        for button in (self.pick, self.draw):
            self.modes.addButton(button)
        self.selection = QLabel()
        self.pick_button = QPushButton(tr("Select on the map"))
        self.pick_button.clicked.connect(self.start_picking)
        picked = QHBoxLayout()
        picked.addWidget(self.pick)
        picked.addWidget(self.selection, 1)
        picked.addWidget(self.pick_button)
        top.addRow(picked)
        top.addRow(self.draw)
        self.settlement = QComboBox()
        for settlement_id, label in settlements:
            self.settlement.addItem(label, settlement_id)
        if len(settlements) > 1:
            top.addRow(tr("in the settlement"), self.settlement)
        self.body.insertWidget(0, choice)
        self.pick_tool: QgsMapToolIdentifyFeature | None = None
        self._previous_tool = None
        parcels.selectionChanged.connect(self._show_selection)
        self._show_selection()
        (self.pick if parcels.selectedFeatureCount() == 1 else self.draw).setChecked(True)
        self.modes.buttonToggled.connect(self._mode_changed)
        self._mode_changed()

    def picking(self) -> bool:
        return self.pick.isChecked()

    def _mode_changed(self, *_args) -> None:
        self.editor.setEnabled(not self.picking())
        self.settlement.setEnabled(not self.picking())
        self.pick_button.setEnabled(self.picking() and self.context.canvas is not None)
        self.problem_box.show_lines([])

    def _show_selection(self, *_args) -> None:
        chosen = self.parcels.selectedFeatures()
        if len(chosen) == 1:
            feature = chosen[0]
            area = feature["area_m2"]
            self.selection.setText(tr("{0} ({1} m²)").format(
                feature["code"], "?" if area is None else f"{float(area):.0f}"))
        elif chosen:
            self.selection.setText(tr("{0} parcels are selected").format(len(chosen)))
        else:
            self.selection.setText(tr("No parcel is selected"))

    def start_picking(self) -> None:
        canvas = self.context.canvas
        if self.pick_tool is None:
            self.pick_tool = QgsMapToolIdentifyFeature(canvas, self.parcels)
            self.pick_tool.featureIdentified[QgsFeature].connect(self.picked)
        self._previous_tool = canvas.mapTool()
        canvas.setMapTool(self.pick_tool)

    def picked(self, feature: QgsFeature) -> None:
        self.parcels.selectByIds([feature.id()])
        canvas = self.context.canvas
        if canvas.mapTool() is self.pick_tool:
            if self._previous_tool is not None:
                canvas.setMapTool(self._previous_tool)
            else:
                canvas.unsetMapTool(self.pick_tool)

    def parcel_id(self) -> str | None:
        chosen = self.parcels.selectedFeatures()
        return chosen[0]["id"] if self.picking() and len(chosen) == 1 else None

    def settlement_id(self) -> str | None:
        return self.settlement.currentData()

    def section_names(self) -> set[str]:
        return set() if self.picking() else {self.section.name}

    def answers(self) -> dict[str, Any]:
        return {} if self.picking() else super().answers()

    def own_problems(self) -> list[str]:
        if self.picking() and self.parcel_id() is None:
            return [tr("Select one parcel on the map (layer {0}), or draw a new one.").format(
                self.parcels.name())]
        return []

    def release(self) -> None:
        super().release()
        canvas = self.context.canvas
        if self.pick_tool is not None and canvas.mapTool() is self.pick_tool:
            canvas.unsetMapTool(self.pick_tool)
        try:
            self.parcels.selectionChanged.disconnect(self._show_selection)
        except (TypeError, RuntimeError):
            pass


class EntryEditor(QWidget):
    """One entry of a repeat (a member) with the sections answered within it (the claim)."""

    def __init__(self, section: Section, nested: list[Section], context: AnswerContext) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        self.main = SectionEditor(section.questions, context)
        layout.addWidget(self.main)
        self.nested: dict[str, SectionEditor] = {}
        for inner in nested:  # a heading, not a frame, keeps the fields in one column
            rule = QFrame()
            rule.setFrameShape(QFrame.HLine)
            rule.setFrameShadow(QFrame.Sunken)
            heading = QLabel(f"<b>{html.escape(text_in(inner.title, context.lang))}</b>")
            editor = SectionEditor(inner.questions, context, outer=self.main.answers)
            self.main.changed.connect(editor.refresh)
            for widget in (rule, heading, editor):
                layout.addWidget(widget)
            self.nested[inner.name] = editor
        layout.addStretch()

    def editor(self, section_name: str) -> SectionEditor:
        return self.nested.get(section_name, self.main)

    def answers(self) -> dict[str, Any]:
        return {**self.main.answers(),
                **{name: editor.answers() for name, editor in self.nested.items()}}

    def release(self) -> None:
        for editor in (self.main, *self.nested.values()):
            editor.release()


class RepeatPage(SectionPage):
    """A repeat section (the members): a list to add to and remove from, one editor each."""

    def __init__(self, section: Section, nested: list[Section], context: AnswerContext) -> None:
        QWizardPage.__init__(self)
        self.section = section
        self.nested = nested
        self.context = context
        self.setTitle(text_in(section.title, context.lang))
        self.entries: list[EntryEditor] = []
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._show_entry)
        self.add_button = QPushButton(tr("Add"))
        self.add_button.clicked.connect(self.add_entry)
        self.remove_button = QPushButton(tr("Remove"))
        self.remove_button.clicked.connect(lambda: self.remove_entry(self.list.currentRow()))
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        left_layout.addLayout(buttons)
        self.stack = QStackedWidget()
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scrolled(self.stack))
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([190, 560])
        self.problem_box = ProblemBox()
        self.body = QVBoxLayout(self)
        self.body.addWidget(splitter, 1)
        self.body.addWidget(self.problem_box)
        self.add_entry()

    def add_entry(self) -> EntryEditor:
        entry = EntryEditor(self.section, self.nested, self.context)
        entry.main.changed.connect(self._rename)
        for editor in (entry.main, *entry.nested.values()):
            editor.changed.connect(self.recheck)
        self.entries.append(entry)
        self.stack.addWidget(entry)
        self.list.addItem("")
        self._rename()
        self.list.setCurrentRow(len(self.entries) - 1)
        return entry

    def remove_entry(self, index: int) -> None:
        if not 0 <= index < len(self.entries):
            return
        entry = self.entries.pop(index)
        entry.release()
        self.stack.removeWidget(entry)
        entry.deleteLater()
        self.list.takeItem(index)
        self._rename()

    def _show_entry(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self.stack.setCurrentWidget(self.entries[row])
        self.remove_button.setEnabled(row >= 0)

    def entry_title(self, index: int) -> str:
        """"2. Issa Koné": the party's own display name when the entries are parties."""
        answers = self.entries[index].main.answers()
        name = ""
        if self.section.record == "party":
            names = {q.target_field: answers.get(q.name) for top in self.section.questions
                     for q in top.walk() if q.target_table == "party"
                     and q.target_field in ("first_name", "last_name", "group_name")}
            person = bool(names.get("first_name") or names.get("last_name"))
            name = Party(party_type="person" if person else "group", **names).display_name
        return f"{index + 1}. {name or tr('(no name yet)')}"

    def _rename(self) -> None:
        for index in range(len(self.entries)):
            self.list.item(index).setText(self.entry_title(index))

    def section_names(self) -> set[str]:
        return {self.section.name, *(inner.name for inner in self.nested)}

    def answers(self) -> dict[str, Any]:
        return {self.section.name: [entry.answers() for entry in self.entries]}

    def show_problems(self, problems: list[tuple[AnswerProblem, str]],
                      focus: bool = True) -> None:
        for index, entry in enumerate(self.entries):
            for name in (self.section.name, *entry.nested):
                entry.editor(name).mark({p.question: text for p, text in problems
                                         if p.index == index and p.section == name})
        first = next((p.index for p, _ in problems if p.index is not None), None)
        if focus and first is not None and first < len(self.entries):
            self.list.setCurrentRow(first)
        self.problem_box.show_lines([text for _, text in problems])

    def release(self) -> None:
        for entry in self.entries:
            entry.release()
