"""The small forms the adjudication steps ask before they run, and the claim history.

Each ``ask_*`` shows one modal form and returns what was typed (None when
cancelled); the adjudication dialog then hands it to the core, which checks
it. They are kept apart from the dialog so that it reads as its table and
its steps. Tests fill a form by replacing ``FormDialog.exec_``.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from qgis.PyQt.QtCore import QDate
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from ...core.adjudication.adjudication import OBJECTION_OUTCOMES
from ...qgis.adjudication.display_list import block_text
from ...qgis.i18n import tr
from ..store.sign_in_dialog import role_label
from ..store.tables import events_window


def outcome_label(outcome: str) -> str:
    return {"upheld": tr("upheld"), "dismissed": tr("dismissed"),
            "withdrawn": tr("withdrawn")}.get(outcome, outcome)


def state_label(state: Optional[str]) -> str:
    return {"enumerated": tr("enumerated"), "verified": tr("verified"),
            "public_display": tr("on public display"), "approved": tr("approved"),
            "issued": tr("certificate issued")}.get(state or "", state or "—")


def date_edit(day: dt.date) -> QDateEdit:
    edit = QDateEdit(QDate(day.year, day.month, day.day))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    return edit


def iso(edit: QDateEdit) -> str:
    return edit.date().toString("yyyy-MM-dd")


def text_box(lines: int = 3) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 12)
    return box


class FormDialog(QDialog):
    """A title, a sentence that says what will happen, labelled fields, OK and Cancel."""

    def __init__(self, parent: Optional[QWidget], title: str, intro: str,
                 rows: list[tuple[str, QWidget]], ok_text: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        if intro:
            label = QLabel(intro)
            label.setWordWrap(True)
            layout.addWidget(label)
        form = QFormLayout()
        self.fields = dict(rows)
        for text, widget in rows:
            form.addRow(text, widget)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(ok_text)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def ask(parent, title: str, intro: str, rows: list[tuple[str, QWidget]],
        ok_text: str) -> bool:
    return FormDialog(parent, title, intro, rows, ok_text).exec_() == QDialog.Accepted


def ask_public_display(parent, settlements: list[tuple[str, str]],
                       blocks: list[str]) -> Optional[dict]:
    """Settlement, block (empty: all), first and last day, and place of a display."""
    site, block, place = QComboBox(), QComboBox(), QLineEdit()
    for label, settlement_id in settlements:
        site.addItem(label, settlement_id)
    block.setEditable(True)
    block.addItems(["", *blocks])
    block.lineEdit().setPlaceholderText(tr("every block"))
    today = dt.date.today()
    starts, ends = date_edit(today), date_edit(today + dt.timedelta(days=30))
    place.setPlaceholderText(tr("e.g. the chief's yard"))
    if not ask(parent, tr("Open a public display"),
               tr("Every verified claim of the settlement, or of one block, is listed for "
                  "objections until the last day; it can be approved the day after."),
               [(tr("Settlement"), site), (tr("Block"), block), (tr("First day"), starts),
                (tr("Last day"), ends), (tr("Place"), place)], tr("Open public display")):
        return None
    return {"settlement_id": site.currentData(), "starts_on": iso(starts),
            "ends_on": iso(ends), "block": block.currentText().strip() or None,
            "place": place.text().strip() or None}


def ask_reason(parent, claims: str) -> Optional[str]:
    reason = text_box()
    if not ask(parent, tr("Return to enumeration"),
               tr("{0} go back to enumeration, to be corrected and verified again.").format(
                   claims), [(tr("Reason"), reason)], tr("Return to enumeration")):
        return None
    return reason.toPlainText()


def ask_objection(parent, about: str) -> Optional[dict]:
    objector, contact, grounds = QLineEdit(), QLineEdit(), text_box(4)
    contact.setPlaceholderText(tr("optional: phone or address"))
    raised = date_edit(dt.date.today())
    if not ask(parent, tr("Record an objection"), about,
               [(tr("Objector"), objector), (tr("Contact"), contact),
                (tr("Grounds"), grounds), (tr("Raised on"), raised)], tr("Record objection")):
        return None
    return {"objector": objector.text(), "contact": contact.text().strip() or None,
            "grounds": grounds.toPlainText(), "raised_on": iso(raised)}


def ask_resolution(parent, objections: list) -> Optional[dict]:
    objection, outcome, resolution = QComboBox(), QComboBox(), text_box()
    for found in objections:
        grounds = found.grounds if len(found.grounds) <= 60 else found.grounds[:59] + "…"
        objection.addItem(f"{found.objector_name}, {found.raised_on}: {grounds}", found.id)
    for code in OBJECTION_OUTCOMES:
        outcome.addItem(outcome_label(code), code)
    if not ask(parent, tr("Resolve an objection"),
               tr("Upheld sends the claim back to enumeration; dismissed or withdrawn "
                  "lets it go on to approval."),
               [(tr("Objection"), objection), (tr("Outcome"), outcome),
                (tr("Resolution"), resolution)], tr("Resolve objection")):
        return None
    return {"objection_id": objection.currentData(), "outcome": outcome.currentData(),
            "resolution": resolution.toPlainText()}


def ask_display_to_print(parent, displays: list, preferred: set) -> Optional[str]:
    """Which public display to print (the one of the selected claims first)."""
    pick = QComboBox()
    for display in displays:
        pick.addItem(tr("{0} to {1}, {2}").format(display.starts_on, display.ends_on,
                                                  block_text(display.block)), display.id)
        if display.id in preferred:
            pick.setCurrentIndex(pick.count() - 1)
    if not ask(parent, tr("Print a display list"), "", [(tr("Public display"), pick)],
               tr("Choose the file…")):
        return None
    return pick.currentData()


def history_dialog(parent, title: str, events: list[dict]) -> QDialog:
    """The adjudication events of one claim, oldest first, in a window of its own."""
    rows = []
    for event in events:
        values = (event["changed_at"].replace("T", " ")[:19], state_label(event["from_state"]),
                  state_label(event["to_state"]), event["changed_by"],
                  role_label(event["role"]), event["note"] or "")
        rows.append([(value, "") for value in values])
    return events_window(parent, title, title if events else tr("No adjudication step yet."),
                         [tr("When (UTC)"), tr("From"), tr("To"), tr("By"), tr("Role"),
                          tr("Note")], rows, (920, 300))
