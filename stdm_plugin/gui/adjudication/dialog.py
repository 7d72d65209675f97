"""Adjudicate claims: verify, display in public, approve, objections, history.

A window over one open store, left open while the officer selects parcels
on the map. Every button calls one function of core/adjudication/adjudication.py, which
checks the role and the claim's state; the buttons are only enabled by
``users.allowed`` to spare a refusal, not to enforce anything. Before each
action the signed-in person is read again (``resume_session``), so that a
role changed meanwhile counts. After each action the table is read again
and ``report`` tells the plugin what happened (message bar, layers).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.adjudication import adjudication as adj
from ...core.store.errors import PermissionDeniedError, StdmError
from ...core.store.schema import CLAIM_STATES
from ...core.store.users import PERMISSIONS, allowed, resume_session, sign_out
from ...qgis.adjudication.display_list import share_text, write_display_list
from ...qgis.i18n import tr
from ..store.sign_in_dialog import PROBLEM_STYLE, role_label, user_label
from ..store.tables import read_only_table
from . import step_forms as forms
from .step_forms import outcome_label, state_label

DONE_STYLE = "color: #2b6e2b;"


def column_titles() -> list[str]:
    return [tr("Parcel"), tr("Block"), tr("Holder"), tr("Tenure"), tr("Share"), tr("State"),
            tr("Objections"), tr("Display period")]


def claims_text(count: int) -> str:
    return tr("1 claim") if count == 1 else tr("{0} claims").format(count)


@dataclass
class ClaimRow:
    """One current claim as the table lists it."""
    claim_id: str
    parcel_id: str
    parcel_code: str
    block: str
    holder: str
    tenure: str
    share: str
    state: str
    open_objections: int
    display_id: Optional[str]
    period: str


def claim_rows(store, lang: str = "en") -> list[ClaimRow]:
    """Every current claim with its parcel, holder, state, objections and display."""
    claims = store.tenure.find()
    units = {u.id: u for u in store.spatial_units.find()}
    parties = {p.id: p for p in store.parties.find()}
    displays = {d.id: d for d in store.public_displays.find()}
    objections = Counter(o.social_tenure_id
                         for o in adj.open_objections(store, [c.id for c in claims]))
    labels = store.lookups.labels("tenure_type", lang)
    rows = []
    for claim in claims:
        unit, party = units.get(claim.spatial_unit_id), parties.get(claim.party_id)
        display = displays.get(claim.public_display_id)
        rows.append(ClaimRow(
            claim.id, claim.spatial_unit_id, unit.code if unit else "?",
            (unit.block or "") if unit else "", party.display_name if party else "?",
            labels.get(claim.tenure_type, claim.tenure_type or ""),
            share_text(claim.share_numerator, claim.share_denominator),
            claim.adjudication_state, objections[claim.id], claim.public_display_id,
            f"{display.starts_on} – {display.ends_on}" if display else ""))
    return sorted(rows, key=lambda r: (r.parcel_code, r.holder.lower(), r.claim_id))


class AdjudicationDialog(QDialog):
    """The claims of a store, filtered, and the adjudication steps for those selected."""

    def __init__(self, store, store_label: str, parcels_layer, lang: str,
                 report: Callable[[str, bool], None],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.store, self.store_label, self.parcels_layer = store, store_label, parcels_layer
        self.lang, self.report = lang, report
        self.rows: list[ClaimRow] = []
        self.map_parcels: Optional[set[str]] = None  # parcel ids when "use map selection"
        self.setWindowTitle(tr("Adjudicate claims — {0}").format(store_label))
        layout = QVBoxLayout(self)
        self.who = QLabel()
        layout.addWidget(self.who)
        layout.addLayout(self._filters())
        self.table = read_only_table(column_titles(), many=True)  # names are never cut
        header = self.table.horizontalHeader()
        header.setMaximumSectionSize(220)  # a long tenure label is elided, with a tip
        header.setStretchLastSection(True)
        self.table.horizontalHeaderItem(6).setToolTip(tr("Open objections"))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        layout.addLayout(self._buttons())
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()
        self.resize(1120, 640)

    def _filters(self) -> QHBoxLayout:
        line = QHBoxLayout()
        self.state_filter = QComboBox()
        self.state_filter.addItem(tr("All states"), None)
        for state in CLAIM_STATES:
            self.state_filter.addItem(state_label(state), state)
        self.block_filter = QComboBox()
        self.block_filter.setMinimumContentsLength(12)
        self.map_button = QPushButton(tr("Use parcels selected on the map"))
        self.map_button.setCheckable(True)
        self.map_button.setToolTip(tr("List only the claims on the parcels selected in the "
                                      "Parcels layer, and select them"))
        self.map_button.toggled.connect(self.use_map_selection)
        for label, widget in ((tr("State"), self.state_filter),
                              (tr("Block"), self.block_filter)):
            line.addWidget(QLabel(label))
            line.addWidget(widget)
            widget.currentIndexChanged.connect(lambda _i: self._fill_table())
        line.addWidget(self.map_button)
        line.addStretch(1)
        self.count = QLabel()
        line.addWidget(self.count)
        return line

    def _buttons(self) -> QGridLayout:
        """Two rows: the moves of a claim, then objections, history and the printed list."""
        grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        for number, (key, text, slot) in enumerate((
                ("verify", tr("Verify"), self.verify_selected),
                ("open_public_display", tr("Open public display…"), self._display_clicked),
                ("approve", tr("Approve"), self._approve_clicked),
                ("return_claim", tr("Return to enumeration…"), self._return_clicked),
                ("record_objection", tr("Record objection…"), self._objection_clicked),
                ("resolve_objection", tr("Resolve objection…"), self._resolve_clicked),
                ("history", tr("History…"), self.show_history),
                ("print", tr("Print display list…"), self._print_clicked))):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            grid.addWidget(button, number // 4, number % 4)
            self.buttons[key] = button
        grid.setColumnStretch(4, 1)
        return grid

    # --- reading ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the person signed in and the claims again, keeping filters and selection."""
        user = self.store.user
        self.who.setText(tr("Store <b>{0}</b> · signed in: <b>{1}</b>").format(
            self.store_label, user_label(user) if user else tr("nobody")))
        self.rows = claim_rows(self.store, self.lang)
        blocks = sorted({r.block for r in self.rows if r.block})
        current = self.block_filter.currentData()
        self.block_filter.blockSignals(True)
        self.block_filter.clear()
        self.block_filter.addItem(tr("All blocks"), None)
        for block in blocks:
            self.block_filter.addItem(block, block)
        self.block_filter.setCurrentIndex(max(0, self.block_filter.findData(current)))
        self.block_filter.blockSignals(False)
        self._fill_table()

    def _fill_table(self, select: Optional[list[str]] = None) -> None:
        select = set(self.selected_claim_ids() if select is None else select)
        state, block = self.state_filter.currentData(), self.block_filter.currentData()
        shown = [r for r in self.rows if (state is None or r.state == state)
                 and (block is None or r.block == block)
                 and (self.map_parcels is None or r.parcel_id in self.map_parcels)]
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(shown))
        for number, row in enumerate(shown):
            values = (row.parcel_code, row.block, row.holder, row.tenure, row.share,
                      state_label(row.state), str(row.open_objections or ""), row.period)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.UserRole, row.claim_id)
                if column in (2, 3):
                    item.setToolTip(value)
                if column in (4, 6):
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(number, column, item)
            if row.claim_id in select:
                self.table.selectRow(number)
        self.table.blockSignals(False)
        self.count.setText(tr("{0} of {1} claims listed").format(len(shown), len(self.rows)))
        self._update_buttons()

    def selected_claim_ids(self) -> list[str]:
        model = self.table.selectionModel()
        return [index.data(Qt.UserRole) for index in model.selectedRows()] if model else []

    def select_claims(self, claim_ids) -> None:
        self._fill_table(select=list(claim_ids))

    def _selected_rows(self) -> list[ClaimRow]:
        ids = set(self.selected_claim_ids())
        return [r for r in self.rows if r.claim_id in ids]

    def use_map_selection(self, on: bool = True) -> int:
        """List only the claims on the parcels selected on the map (and select them)."""
        if on:
            field = self.parcels_layer.fields().indexOf("id")
            self.map_parcels = {f.attribute(field) for f in self.parcels_layer.selectedFeatures()}
        else:
            self.map_parcels = None
        self.map_button.blockSignals(True)
        self.map_button.setChecked(on)
        self.map_button.blockSignals(False)
        ids = [r.claim_id for r in self.rows if on and r.parcel_id in self.map_parcels]
        self._fill_table(select=ids if on else None)
        if on and not ids:
            self._show(tr("No claims on the parcels selected on the map ({0} selected).")
                       .format(len(self.map_parcels)), ok=False)
        return len(ids)

    def _update_buttons(self) -> None:
        rows = self._selected_rows()
        one = len(rows) == 1
        needs = {"verify": bool(rows), "open_public_display": True, "approve": bool(rows),
                 "return_claim": bool(rows), "record_objection": one,
                 "resolve_objection": one and rows[0].open_objections > 0}
        for action, enabled in needs.items():
            button = self.buttons[action]
            may = allowed(self.store, action)
            button.setEnabled(may and enabled)
            button.setToolTip("" if may else tr("Needs the role: {0}").format(
                tr(" or ").join(role_label(r) for r in PERMISSIONS[action])))
        self.buttons["history"].setEnabled(one)
        self.buttons["print"].setEnabled(bool(self._displays()))

    def _displays(self) -> list:
        return sorted(self.store.public_displays.find(), key=lambda d: d.starts_on,
                      reverse=True)

    # --- the steps, callable without their input dialogs -------------------------------
    def _act(self, work: Callable, said: Callable[[object], str]):
        """Run one step through the core; its refusal is shown, and None returned."""
        try:
            self._resume()
            result = work()
        except StdmError as error:
            self.refresh()
            self._show(tr("Not done: {0}").format(error), ok=False)
            self.report(tr("Adjudication: not done: {0}").format(error), False)
            return None
        self.refresh()
        message = said(result)
        self._show(message, ok=True)
        self.report(message, True)
        return result

    def _resume(self) -> None:
        """Read the person working again; one deactivated meanwhile is signed out."""
        if self.store.user is None:
            return
        try:
            resume_session(self.store, self.store.user.login)
        except PermissionDeniedError:
            sign_out(self.store)
            raise

    def verify_selected(self, note: Optional[str] = None) -> Optional[int]:
        ids = self.selected_claim_ids()
        return self._act(lambda: adj.verify(self.store, ids, note),
                         lambda n: tr("{0} verified").format(claims_text(n)))

    def approve_selected(self, today: Optional[str] = None) -> Optional[int]:
        ids = self.selected_claim_ids()
        return self._act(lambda: adj.approve(self.store, ids, today=today),
                         lambda n: tr("{0} approved").format(claims_text(n)))

    def return_selected(self, reason: str) -> Optional[int]:
        ids = self.selected_claim_ids()
        return self._act(lambda: adj.return_to_enumeration(self.store, ids, reason),
                         lambda n: tr("{0} returned to enumeration").format(claims_text(n)))

    def open_display(self, settlement_id: str, starts_on: str, ends_on: str,
                     block: Optional[str] = None, place: Optional[str] = None):
        def said(display) -> str:
            count = sum(1 for r in self.rows if r.display_id == display.id)
            return tr("Public display opened for {0}, {1} to {2}").format(
                claims_text(count), display.starts_on, display.ends_on) + (
                tr(", block {0}").format(block) if block else "") + (
                tr(", at {0}").format(place) if place else "")
        return self._act(lambda: adj.open_public_display(
            self.store, settlement_id, starts_on, ends_on, block=block or None,
            place=place or None), said)

    def record_objection(self, objector: str, grounds: str, contact: Optional[str] = None,
                         raised_on: Optional[str] = None):
        """Write down an objection against the one claim selected."""
        [row] = self._selected_rows()
        return self._act(lambda: adj.record_objection(
            self.store, row.claim_id, objector, grounds, raised_on=raised_on,
            objector_contact=contact or None),
            lambda o: tr("Objection by {0} recorded against the claim of {1} on {2}").format(
                o.objector_name, row.holder, row.parcel_code))

    def resolve_objection(self, objection_id: str, outcome: str, resolution: str):
        return self._act(lambda: adj.resolve_objection(self.store, objection_id, outcome,
                                                       resolution),
                         lambda o: tr("Objection by {0}: {1}").format(
                             o.objector_name, outcome_label(o.status)))

    def print_display_list_to(self, display_id: str, path: str) -> bool:
        try:
            pages = write_display_list(self.store, display_id, path, self.lang)
        except (StdmError, OSError) as error:
            self._show(tr("The display list was not written: {0}").format(error), ok=False)
            return False
        message = tr("Wrote the display list ({0} page(s)) to {1}").format(pages, path)
        self._show(message, ok=True)
        self.report(message, True)
        return True

    def show_history(self):
        rows = self._selected_rows()
        if len(rows) != 1:
            return None
        row = rows[0]
        dialog = forms.history_dialog(self, tr("History of the claim of {0} on {1}").format(
            row.holder, row.parcel_code), adj.claim_events(self.store, row.claim_id))
        dialog.show()
        return dialog

    # --- the buttons that ask first ---------------------------------------------------
    def _display_clicked(self) -> None:
        settlements = [(f"{s.name} ({s.code})", s.id) for s in self.store.settlements.find()]
        blocks = sorted({r.block for r in self.rows if r.block and r.state == "verified"})
        asked = forms.ask_public_display(self, settlements, blocks)
        if asked:
            self.open_display(**asked)

    def _approve_clicked(self) -> None:
        self.approve_selected()

    def _return_clicked(self) -> None:
        reason = forms.ask_reason(self, claims_text(len(self.selected_claim_ids())))
        if reason is not None:
            self.return_selected(reason)

    def _objection_clicked(self) -> None:
        [row] = self._selected_rows()
        asked = forms.ask_objection(self, tr("Against the claim of {0} ({1}) on {2}.").format(
            row.holder, row.tenure, row.parcel_code))
        if asked:
            self.record_objection(**asked)

    def _resolve_clicked(self) -> None:
        [row] = self._selected_rows()
        asked = forms.ask_resolution(self, adj.open_objections(self.store, [row.claim_id]))
        if asked:
            self.resolve_objection(**asked)

    def _print_clicked(self) -> None:
        chosen = {r.display_id for r in self._selected_rows()} - {None}
        display_id = forms.ask_display_to_print(self, self._displays(), chosen)
        if display_id is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, tr("Save the display list"),
                                              "display-list.pdf", tr("PDF (*.pdf)"))
        if path:
            self.print_display_list_to(display_id, path)

    def _show(self, text: str, *, ok: bool) -> None:
        self.status.setStyleSheet(DONE_STYLE if ok else PROBLEM_STYLE)
        self.status.setText(text)

