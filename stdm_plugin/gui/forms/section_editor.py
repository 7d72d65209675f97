"""The questions of one section (or one entry of a repeat) as a form on screen.

Built from the form definition, never by hand per question, so a question
added to ``forms/*.yaml`` appears here too. Questions whose ``relevant``
does not hold (evaluated by the core's expression evaluator on the answers
given so far) are hidden as the answers change, and their answers are left
out, as ODK Collect does, so that the core does not see an answer to a
question that does not apply.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...core.forms import expressions
from ...core.forms.enumeration import is_empty
from ...core.forms.forms import CONTAINERS, Question
from ...qgis.forms.rules import text_in
from .answer_widgets import AnswerContext, AnswerWidget, answer_widget

PROBLEM_COLOUR = "#c0392b"
LABEL_WIDTH = 220  # wide enough that most labels fit on one or two lines


def question_label(question: Question, lang: str) -> str:
    """Rich text: the label in the user's language, a red * when required."""
    text = html.escape(text_in(question.label, lang))
    if question.required:
        text += f' <span style="color:{PROBLEM_COLOUR}">*</span>'
    return text


def relevant(question: Question, scope: dict[str, Any]) -> bool:
    try:
        return expressions.holds(question.relevant, scope)
    except expressions.ExpressionError:
        return True  # shown; the core's check says what is wrong with the form


@dataclass
class Row:
    """One question on screen; ``line`` holds its label and field, so that hiding it
    closes the gap (a QFormLayout keeps the spacing of hidden rows in Qt 5)."""

    question: Question
    label: QLabel | None
    widget: AnswerWidget
    line: QWidget

    def set_visible(self, visible: bool) -> None:
        self.line.setVisible(visible)


class SectionEditor(QWidget):
    """``outer`` gives the answers a nested section also sees (a member's, for a claim)."""

    changed = pyqtSignal()

    def __init__(self, questions: list[Question], context: AnswerContext,
                 outer: Callable[[], dict[str, Any]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.outer = outer or dict
        self.rows: dict[str, Row] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._add(questions, layout)
        layout.addStretch()
        self.changed.connect(self.refresh)
        self.refresh()

    def _add(self, questions: list[Question], layout: QVBoxLayout) -> None:
        for question in questions:
            if question.type in CONTAINERS:
                if question.type == "group":  # a repeat inside a section is not asked here
                    box = QGroupBox(text_in(question.label, self.context.lang))
                    self._add(question.questions, QVBoxLayout(box))
                    layout.addWidget(box)
                continue
            widget = answer_widget(question, self.context)
            if widget is None:
                continue
            widget.setObjectName(question.name)
            if question.default is not None:
                widget.set_value(question.default)
            widget.changed.connect(self.changed)
            if question.type == "note":
                layout.addWidget(widget)
                self.rows[question.name] = Row(question, None, widget, widget)
                continue
            line = QWidget()
            row = QHBoxLayout(line)
            row.setContentsMargins(0, 0, 0, 0)
            label = QLabel(question_label(question, self.context.lang))
            label.setWordWrap(True)
            label.setFixedWidth(LABEL_WIDTH)
            label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
            label.setContentsMargins(0, 4, 0, 0)  # level with the text of the field
            field = self._with_hint(widget, text_in(question.hint, self.context.lang))
            label.setToolTip(widget.toolTip())
            row.addWidget(label, 0, Qt.AlignTop)
            row.addWidget(field, 1)
            layout.addWidget(line)
            self.rows[question.name] = Row(question, label, widget, line)

    @staticmethod
    def _with_hint(widget: AnswerWidget, hint: str) -> QWidget:
        if not hint:
            return widget
        widget.set_hint(hint)
        if widget.takes_hint_as_placeholder:
            return widget
        field = QWidget()
        column = QVBoxLayout(field)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        column.addWidget(widget)
        caption = QLabel(html.escape(hint))
        caption.setWordWrap(True)
        caption.setStyleSheet("color: palette(dark); font-size: small;")
        column.addWidget(caption)
        return field

    # --- answers ---------------------------------------------------------------
    def widget(self, name: str) -> AnswerWidget:
        return self.rows[name].widget

    def raw_answers(self) -> dict[str, Any]:
        values = {name: row.widget.value() for name, row in self.rows.items()}
        return {name: value for name, value in values.items() if not is_empty(value)}

    def answers(self) -> dict[str, Any]:
        """The answers of the questions that apply; an answer that makes another question
        not apply can in turn make a third one apply or not, hence the rounds."""
        raw = self.raw_answers()
        kept = dict(raw)
        for _ in range(len(self.rows) + 1):
            scope = {**self.outer(), **kept}
            now = {name: value for name, value in raw.items()
                   if relevant(self.rows[name].question, scope)}
            if now == kept:
                break
            kept = now
        return kept

    def set_answers(self, answers: dict[str, Any]) -> None:
        for name, value in answers.items():
            if name in self.rows:
                self.rows[name].widget.set_value(value)

    def refresh(self) -> None:
        """Show the questions that apply to the answers as they are now."""
        scope = {**self.outer(), **self.answers()}
        for row in self.rows.values():
            row.set_visible(relevant(row.question, scope))

    def is_shown(self, name: str) -> bool:
        return not self.rows[name].line.isHidden()

    # --- problems ----------------------------------------------------------------
    def mark(self, problems: dict[str, str]) -> None:
        """Red labels, and the reason as their tooltip; the others back to normal."""
        for name, row in self.rows.items():
            if row.label is None:
                continue
            reason = problems.get(name)
            row.label.setStyleSheet(f"color: {PROBLEM_COLOUR};" if reason else "")
            row.label.setToolTip(reason or row.widget.toolTip())

    def release(self) -> None:
        for row in self.rows.values():
            row.widget.release()
