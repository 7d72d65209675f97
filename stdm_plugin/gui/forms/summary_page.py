"""The wizard's last page: what is still wrong, else what will be saved.

The problems come from the core's check_enumeration, each with its
section, entry, question and reason in the user's language; the review
lists every answer as the enumerator will find it in the store.
"""
from __future__ import annotations

from typing import Any

from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from ...core.forms.enumeration import GEOMETRY_TYPES, AnswerProblem
from ...core.forms.forms import CONTAINERS, Question
from ...qgis.forms.rules import text_in
from ...qgis.i18n import tr
from .enumeration_pages import ParcelPage, ProblemBox, RepeatPage


def tree(headers: list[str]) -> QTreeWidget:
    widget = QTreeWidget()
    widget.setHeaderLabels(headers)
    widget.setRootIsDecorated(True)
    widget.setAlternatingRowColors(True)
    widget.setSelectionMode(QAbstractItemView.NoSelection)
    widget.header().setStretchLastSection(True)
    widget.header().setSectionResizeMode(QHeaderView.Interactive)
    return widget


class SummaryPage(QWizardPage):
    def __init__(self, wizard: QWizard) -> None:
        """``wizard`` is the EnumerationWizard the page belongs to: its problems, pages
        and save are what the summary shows and calls."""
        super().__init__()
        self.owner = wizard
        self.setTitle(tr("Summary"))
        self.problems: list[AnswerProblem] = []
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.problem_tree = tree([tr("Section"), tr("Entry"), tr("Question"), tr("Problem")])
        self.review = tree([tr("Question"), tr("Answer")])
        self.problem_box = ProblemBox()
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.problem_tree, 1)
        layout.addWidget(self.review, 2)
        layout.addWidget(self.problem_box)
        self.setButtonText(wizard.FinishButton, tr("Save"))

    def initializePage(self) -> None:
        self.problems = self.owner.problems()
        extra = self.owner.parcel_page.own_problems() if self.owner.parcel_page else []
        self.problem_tree.clear()
        for problem in self.problems:
            self.problem_tree.addTopLevelItem(QTreeWidgetItem(list(self.owner.describe(problem))))
        for line in extra:
            self.problem_tree.addTopLevelItem(QTreeWidgetItem(["", "", "", line]))
        self.problems_left = bool(self.problems or extra)
        self.problem_tree.setVisible(self.problems_left)
        for column in range(3):
            self.problem_tree.resizeColumnToContents(column)
        self.intro.setText(
            tr("Fix these problems first: go Back to the page of the section named.")
            if self.problems_left else
            tr("Everything is ready. Save writes the parcel, the household, its members, their "
               "claims and the photos together, or nothing at all."))
        self._fill_review()
        self.problem_box.show_lines([])
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return not getattr(self, "problems_left", True)

    def validatePage(self) -> bool:
        # checked again: the store may have changed since the pages were left
        problems = self.owner.problems()
        if problems:
            self.problem_box.show_lines(
                [tr("Not saved:")] + [" — ".join(p for p in self.owner.describe(problem) if p)
                                      for problem in problems])
            return False
        if self.owner.save():
            return True
        self.problem_box.show_lines([tr("Not saved: the message bar says why.")])
        return False

    # --- the review of the answers ------------------------------------------------
    def _fill_review(self) -> None:
        self.review.clear()
        for page in self.owner.section_pages:
            top = QTreeWidgetItem([page.title(), ""])
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            self.review.addTopLevelItem(top)
            if isinstance(page, ParcelPage) and page.picking():
                top.addChild(QTreeWidgetItem([tr("Parcel selected on the map"),
                                              page.selection.text()]))
            elif isinstance(page, RepeatPage):
                for index, entry in enumerate(page.entries):
                    item = QTreeWidgetItem([page.entry_title(index), ""])
                    top.addChild(item)
                    answers = entry.answers()
                    self._add_answers(item, page.section.questions, answers)
                    for inner in page.nested:
                        own = answers.get(inner.name) or {}
                        if own:
                            sub = QTreeWidgetItem([text_in(inner.title, self.owner.lang), ""])
                            item.addChild(sub)
                            self._add_answers(sub, inner.questions, own)
            else:
                self._add_answers(top, page.section.questions, page.editor.answers())
        self.review.expandAll()
        self.review.resizeColumnToContents(0)

    def _add_answers(self, parent: QTreeWidgetItem, questions: list[Question],
                     answers: dict[str, Any]) -> None:
        for top in questions:
            for question in top.walk():
                if question.type in CONTAINERS or question.name not in answers:
                    continue
                parent.addChild(QTreeWidgetItem([text_in(question.label, self.owner.lang),
                                                 self.shown(question, answers[question.name])]))

    def shown(self, question: Question, value: Any) -> str:
        if question.type == "select_one":
            return self.owner.context.labels(question.choices or "").get(value, str(value))
        if question.type == "select_multiple":
            labels = self.owner.context.labels(question.choices or "")
            return ", ".join(labels.get(code, code) for code in value)
        if question.type == "photo":
            return value[0]
        if question.type in GEOMETRY_TYPES:  # its widget says it best: corners and area
            page = self.owner.parcel_page
            row = page.editor.rows.get(question.name) if page is not None else None
            return row.widget.status.text() if row is not None else tr("Drawn on the map")
        return str(value)
