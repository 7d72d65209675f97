"""The "Enumerate household" wizard, generated from an EnumerationForm.

One page per section in form order (a repeat section gets a list of
entries, and the sections answered ``within`` it sit inside each entry),
then a summary. The answers are checked as they go: leaving a page runs
the core's ``check_enumeration`` on the whole enumeration and blocks Next
on the problems of that page's sections, and the summary lists whatever
is left. Saving is handed to the caller (the plugin calls the core's
``save_enumeration``, one transaction), so that this module holds no rule.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Callable

from qgis.core import QgsVectorLayer
from qgis.gui import QgsMapCanvas
from qgis.PyQt.QtWidgets import QWidget, QWizard

from ...core.forms.enumeration import AnswerProblem, check_enumeration
from ...core.forms.forms import CONTAINERS, EnumerationForm, Question, Section
from ...qgis.forms.rules import text_in
from ...qgis.i18n import tr
from .answer_widgets import AnswerContext
from .enumeration_pages import ParcelPage, RepeatPage, SectionPage
from .summary_page import SummaryPage

#: (answers, settlement id, id of a parcel picked on the map) -> saved?
SaveCallback = Callable[[dict[str, Any], "str | None", "str | None"], bool]
SHARES = re.compile(r"^the shares claimed on the parcel add up to (\S+), more than 1"
                    r"(?: \(with (\S+) already held by others\))?$")


def reason_text(problem: AnswerProblem, question: Question | None, lang: str) -> str:
    """The core's reason in the user's language where the form or the plugin has it."""
    if question is not None and question.constraint_message and problem.reason == (
            question.constraint_message.get("en")):
        return text_in(question.constraint_message, lang)
    if problem.reason == "is required":
        return tr("required")
    if problem.reason == "at least one entry is needed":
        return tr("at least one entry is needed")
    shares = SHARES.match(problem.reason)
    if shares and shares.group(2):
        return tr("the shares claimed on the parcel add up to {0}, more than 1 (with {1} "
                  "already held by others)").format(shares.group(1), shares.group(2))
    if shares:
        return tr("the shares claimed on the parcel add up to {0}, more than 1").format(
            shares.group(1))
    return problem.reason


class EnumerationWizard(QWizard):
    def __init__(self, form: EnumerationForm, lookups, parcels: QgsVectorLayer,
                 settlements: list[tuple[str, str]], lang: str, canvas: QgsMapCanvas | None,
                 save: SaveCallback, parent: QWidget | None = None,
                 existing_share: Callable[[str], Fraction] = lambda _parcel: Fraction(0),
                 ) -> None:
        super().__init__(parent)
        self.form = form
        self._existing_share = existing_share
        self.lookups = lookups
        self.lang = lang
        self._save = save
        self.setWindowTitle(tr("Enumerate household"))
        self.setWizardStyle(QWizard.ClassicStyle)
        self.setOption(QWizard.NoBackButtonOnStartPage, True)
        self.resize(860, 640)
        labels: dict[str, dict[str, str]] = {}

        def labels_of(category: str) -> dict[str, str]:
            if category not in labels:
                labels[category] = lookups.labels(category, lang)
            return labels[category]

        self.context = AnswerContext(lang, labels_of, canvas, parcels.crs())
        self.parcel_page: ParcelPage | None = None
        self.section_pages: list[SectionPage] = []
        for section in form.sections:
            if section.within:
                continue
            page = self._page(section, parcels, settlements)
            self.addPage(page)
            self.section_pages.append(page)
        self.summary = SummaryPage(self)
        self.addPage(self.summary)
        self.finished.connect(self.release)

    def _page(self, section: Section, parcels: QgsVectorLayer,
              settlements: list[tuple[str, str]]) -> SectionPage:
        nested = [s for s in self.form.sections if s.within == section.name]
        if section.record == "spatial_unit" and not section.repeat and self.parcel_page is None:
            self.parcel_page = ParcelPage(section, self.context, parcels, settlements)
            return self.parcel_page
        if section.repeat:
            return RepeatPage(section, nested, self.context)
        return SectionPage(section, self.context)

    # --- answers and their problems --------------------------------------------
    def page_of(self, section_name: str) -> SectionPage:
        for page in self.section_pages:
            if section_name == page.section.name or section_name in {
                    s.name for s in getattr(page, "nested", [])}:
                return page
        raise KeyError(section_name)

    def parcel_id(self) -> str | None:
        return self.parcel_page.parcel_id() if self.parcel_page else None

    def settlement_id(self) -> str | None:
        return self.parcel_page.settlement_id() if self.parcel_page else None

    def checked_form(self) -> EnumerationForm:
        """A parcel picked on the map is not asked about, as save_enumeration does."""
        if self.parcel_page is None or not self.parcel_page.picking():
            return self.form
        return self.form.without(self.parcel_page.section.name)

    def answers(self) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for page in self.section_pages:
            answers.update(page.answers())
        return answers

    def problems(self) -> list[AnswerProblem]:
        picked = self.parcel_id() if self.parcel_page and self.parcel_page.picking() else None
        existing = self._existing_share(picked) if picked else Fraction(0)
        return check_enumeration(self.checked_form(), self.answers(), self.lookups.codes,
                                 existing)

    def question(self, name: str) -> Question | None:
        try:
            return self.form.question(name)
        except KeyError:
            return None

    def describe(self, problem: AnswerProblem) -> tuple[str, str, str, str]:
        """Section title, entry, question label and reason, in the user's language."""
        section = next((s for s in self.form.sections if s.name == problem.section), None)
        question = self.question(problem.question)
        entry = ""
        if problem.index is not None:
            page = self.page_of(problem.section)
            entry = (page.entry_title(problem.index) if problem.index < len(
                getattr(page, "entries", [])) else str(problem.index + 1))
        label = "" if question is None or question.type in CONTAINERS else text_in(
            question.label, self.lang)
        return (text_in(section.title, self.lang) if section else problem.section, entry,
                label, reason_text(problem, question, self.lang))

    def problem_line(self, problem: AnswerProblem, page: SectionPage) -> str:
        section, entry, label, reason = self.describe(problem)
        parts = [entry, section if problem.section != page.section.name else "", label]
        return " — ".join(p for p in (*parts, reason) if p)

    def check_page(self, page: SectionPage, focus: bool = True) -> bool:
        """Leaving a page: the whole enumeration is checked, the page's part must be clean."""
        mine = [p for p in self.problems() if p.section in page.section_names()]
        page.show_problems([(p, self.problem_line(p, page)) for p in mine], focus)
        return not mine and not page.own_problems()

    # --- saving -------------------------------------------------------------------
    def save(self) -> bool:
        if self.problems() or (self.parcel_page and self.parcel_page.own_problems()):
            return False
        return self._save(self.answers(), self.settlement_id(), self.parcel_id())

    def release(self) -> None:
        """Give the map back its tools and take our drawings off it."""
        for page in self.section_pages:
            page.release()
