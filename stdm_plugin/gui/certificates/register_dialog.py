"""The certificate register of a store: list, history, reprint, revoke, supersede, office key.

A window over one open store, like the adjudication window. Every act is
one function of core/certificates/certificates.py or core/certificates/signing.py, which checks the
role and the certificate's status; the buttons are only enabled by
``users.allowed`` to spare a refusal, and a refusal is shown in words.
Before each act the person signed in for the store is read again, so a
sign-in switched from the STDM menu, or a role changed meanwhile, counts.
Reprints and supersessions render here, on the main thread, with a
CertificateRenderer made for the act and dropped after it (see
qgis/certificates/layout.py for why never in a task).
"""
from __future__ import annotations

import html
import os
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from qgis.core import QgsProject
from qgis.PyQt.QtCore import QEvent, Qt
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.certificates.certificates import (
    certificate_history,
    find_certificate,
    reprint,
    revoke,
    supersede,
)
from ...core.certificates.office_keys import unlock_office_key
from ...core.store.errors import CertificateRefusedError, PermissionDeniedError, StdmError
from ...core.store.users import PERMISSIONS, allowed, resume_session, sign_out
from ...qgis.certificates.layout import (
    LANGUAGES,
    CertificateRenderer,
    CertificateRenderError,
    CertificateTemplateError,
    shipped_template,
)
from ...qgis.i18n import tr
from ..adjudication.step_forms import ask, text_box
from ..store.sign_in_dialog import PROBLEM_STYLE, role_label, user_label
from ..store.tables import read_only_table
from .register_windows import DONE_STYLE, OfficeKeyDialog, confirm, history_dialog, password_box

STATUS_COLOURS = {"valid": "#2b6e2b", "revoked": "#a94442", "superseded": "#8a5a00"}
#: what an act may fail with: the core's refusals, and a template or render that fails
REFUSALS = (StdmError, CertificateTemplateError, CertificateRenderError, OSError, ValueError,
            RuntimeError)


def status_label(status: str) -> str:
    return {"valid": tr("valid"), "revoked": tr("revoked"),
            "superseded": tr("superseded")}.get(status, status)


def column_titles() -> list[str]:
    return [tr("Number"), tr("Parcel"), tr("Holders"), tr("Issued"), tr("Issued by"),
            tr("Status"), tr("Prints"), tr("Superseded by")]


def folded(text: str) -> str:
    """Lower case without accents, so that "kone" finds "Koné"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass
class CertificateRow:
    """One certificate as the table lists it."""
    number: str
    parcel_code: str
    holders: str  #: "Awa Koné (1/2), Issa Koné (1/2)", from the snapshot
    issued_at: str
    issued_by: str
    status: str
    print_count: int
    superseded_by: str  #: the number of the certificate that replaced it, or ""
    language: str

    def matches(self, search: str) -> bool:
        wanted = folded(search.strip())
        return not wanted or any(wanted in folded(value) for value in (
            self.number, self.parcel_code, self.holders))


def certificate_rows(store) -> list[CertificateRow]:
    """Every certificate of the register, by number; what it certifies from its snapshot."""
    certificates = store.certificates.find(order_by="number")
    numbers = {c.id: c.number for c in certificates}
    rows = []
    for cert in certificates:
        content = cert.content
        holders = ", ".join(f"{h['name']} ({Fraction(h['share'])})"
                            for h in content.get("holders", []))
        issuer = content.get("issued_by") or {}
        rows.append(CertificateRow(
            cert.number, content["parcel"]["code"], holders,
            cert.issued_at[:10], issuer.get("full_name") or cert.issued_by,
            cert.status, cert.print_count, numbers.get(cert.superseded_by, ""),
            cert.language))
    return rows


def chosen_template() -> Optional[str]:
    """The template the project names ("en", "shipped:fr" or a .qpt file), if it names one."""
    value, _found = QgsProject.instance().readEntry("stdm", "certificate_template", "")
    return value.strip() or None


def _shipped_name(choice: str) -> str:
    return choice.split(":", 1)[1] if choice.startswith("shipped:") else choice


def template_for(language: str) -> str:
    """The .qpt file the project chose, else the shipped template in the certificate's
    language (a shipped template chosen for another language would mix two languages)."""
    choice = _shipped_name(chosen_template() or "")
    if choice and choice not in LANGUAGES:
        return choice
    return shipped_template(language if language in LANGUAGES else "en")


def template_to_register() -> Optional[str]:
    """The project's own .qpt file as the register names it; None keeps the old one's."""
    choice = _shipped_name(chosen_template() or "")
    return os.path.abspath(choice) if choice and choice not in LANGUAGES else None


def refusal_text(error: Exception) -> str:
    if isinstance(error, CertificateRefusedError):
        return "\n".join([tr("Not done: no certificate for {0}:").format(error.parcel_code),
                          *(f"  • {reason}" for reason in error.reasons)])
    if isinstance(error, PermissionDeniedError):
        return tr("Not allowed: {0}").format(error)
    return tr("Not done: {0}").format(error)


class RegisterDialog(QDialog):
    """The certificates of a store, filtered, and the register's acts on the one selected."""

    def __init__(self, store, store_label: str, parcels_layer,
                 report: Callable[[str, bool], None],
                 current_login: Optional[Callable[[], Optional[str]]] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.store, self.store_label, self.parcels_layer = store, store_label, parcels_layer
        self.report, self.current_login = report, current_login
        self.rows: list[CertificateRow] = []
        self.setWindowTitle(tr("Certificate register — {0}").format(store_label))
        layout = QVBoxLayout(self)
        self.who = QLabel()
        layout.addWidget(self.who)
        layout.addLayout(self._filters())
        self.table = read_only_table(column_titles())
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, QHeaderView.Stretch)  # many holders: elided, with a tip
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        layout.addLayout(self._buttons())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.PlainText)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()
        self.resize(1160, 560)

    def _filters(self) -> QHBoxLayout:
        line = QHBoxLayout()
        self.status_filter = QComboBox()
        self.status_filter.addItem(tr("All statuses"), None)
        for status in ("valid", "revoked", "superseded"):
            self.status_filter.addItem(status_label(status), status)
        self.status_filter.currentIndexChanged.connect(lambda _i: self._fill_table())
        self.search = QLineEdit()
        self.search.setPlaceholderText(tr("number, parcel or holder"))
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(260)
        self.search.textChanged.connect(lambda _t: self._fill_table())
        line.addWidget(QLabel(tr("Status")))
        line.addWidget(self.status_filter)
        line.addWidget(QLabel(tr("Search")))
        line.addWidget(self.search)
        line.addStretch(1)
        self.count = QLabel()
        line.addWidget(self.count)
        return line

    def _buttons(self) -> QHBoxLayout:
        line = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (("history", tr("History…"), self.show_history),
                                ("reprint", tr("Reprint…"), self._reprint_clicked),
                                ("revoke", tr("Revoke…"), self._revoke_clicked),
                                ("supersede", tr("Supersede…"), self._supersede_clicked)):
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            line.addWidget(button)
            self.buttons[key] = button
        line.addStretch(1)
        key_button = QPushButton(tr("Office key…"))
        key_button.clicked.connect(lambda _checked=False: self._office_key_clicked())
        line.addWidget(key_button)
        self.buttons["manage_keys"] = key_button
        return line

    # --- reading ----------------------------------------------------------------------
    def refresh(self, select: Optional[str] = None) -> None:
        """Read who is working and the register again, keeping filters and selection."""
        try:
            self._follow_sign_in()
        except PermissionDeniedError as error:
            self._show(str(error), ok=False)
        user = self.store.user
        self.who.setText(tr("Store <b>{0}</b> · signed in: <b>{1}</b>").format(
            html.escape(self.store_label), html.escape(user_label(user)) if user
            else tr("nobody")))
        self.rows = certificate_rows(self.store)
        self._fill_table(select)

    def _fill_table(self, select: Optional[str] = None) -> None:
        chosen = self.selected_row()
        select = select or (chosen.number if chosen else None)
        status = self.status_filter.currentData()
        shown = [r for r in self.rows if (status is None or r.status == status)
                 and r.matches(self.search.text())]
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(shown))
        for number, row in enumerate(shown):
            values = (row.number, row.parcel_code, row.holders, row.issued_at, row.issued_by,
                      status_label(row.status), str(row.print_count), row.superseded_by)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.UserRole, row.number)
                if column == 2:
                    item.setToolTip(value)
                if column == 5:
                    item.setForeground(QColor(STATUS_COLOURS.get(row.status, "#555555")))
                if column == 6:
                    item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
                self.table.setItem(number, column, item)
            if row.number == select:
                self.table.selectRow(number)
        self.table.blockSignals(False)
        self.count.setText(tr("{0} of {1} certificates listed").format(len(shown),
                                                                       len(self.rows)))
        self._update_buttons()

    def selected_row(self) -> Optional[CertificateRow]:
        model = self.table.selectionModel()
        numbers = [index.data(Qt.UserRole) for index in model.selectedRows()] if model else []
        return next((r for r in self.rows if numbers and r.number == numbers[0]), None)

    def select_number(self, number: str) -> bool:
        self._fill_table(select=number)
        chosen = self.selected_row()
        return chosen is not None and chosen.number == number

    def _update_buttons(self) -> None:
        row = self.selected_row()
        self.buttons["history"].setEnabled(row is not None)
        for action in ("reprint", "revoke", "supersede", "manage_keys"):
            button, may = self.buttons[action], allowed(self.store, action)
            fits = action == "manage_keys" or (row is not None and row.status == "valid")
            button.setEnabled(may and fits)
            if not may:
                button.setToolTip(tr("Needs the role: {0}").format(
                    tr(" or ").join(role_label(r) for r in PERMISSIONS[action])))
            elif row is not None and not fits:
                button.setToolTip(tr("Only a valid certificate; this one is {0}").format(
                    status_label(row.status)))
            else:
                button.setToolTip("")

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Coming back to the window: someone else may have signed in from the menu."""
        super().changeEvent(event)
        if event.type() != QEvent.ActivationChange or not self.isActiveWindow() \
                or not self.isVisible():  # hidden: closed, and its store too
            return
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - raised out of a Qt event it aborts QGIS
            self._show(tr("The register could not be read again: {0}").format(error),
                       ok=False)

    # --- the acts, callable without their input dialogs --------------------------------
    def _act(self, work: Callable, said: Callable[[object], str], select: str):
        """Run one act through the core; its refusal is shown, and None returned."""
        try:
            self._follow_sign_in()
            result = work()
        except REFUSALS as error:
            self.refresh(select)
            self._show(refusal_text(error), ok=False)
            self.report(tr("Certificate register: {0}").format(refusal_text(error)), False)
            return None
        self.refresh(select)
        message = said(result)
        self._show(message, ok=True)
        self.report(message, True)
        return result

    def _follow_sign_in(self) -> None:
        """Make the person signed in for the store the one working; one gone is signed out."""
        user = self.store.user
        login = self.current_login() if self.current_login else (user.login if user else None)
        if login is None:
            sign_out(self.store)
            return
        try:
            resume_session(self.store, login)
        except PermissionDeniedError:
            sign_out(self.store)
            raise

    def _rendering(self, language: str, work: Callable[[Callable], object]):
        """``work(render)`` with a renderer of the template for ``language``, then dropped."""
        folder = tempfile.mkdtemp(prefix="stdm-render-")
        try:
            with CertificateRenderer(template_for(language), self.parcels_layer,
                                     folder) as renderer:
                return work(renderer.render)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _number(self) -> tuple[str, str]:
        row = self.selected_row()
        return (row.number, row.language) if row else ("", "en")

    def reprint_selected(self, out_dir: str):
        number, language = self._number()
        return self._act(
            lambda: self._rendering(language, lambda render: reprint(
                self.store, number, render, out_dir)),
            lambda issued: tr("Reprinted {0} (print {1}) to {2}").format(
                number, find_certificate(self.store, number).print_count, issued.pdf_path),
            number)

    def revoke_selected(self, reason: str):
        number, _language = self._number()
        return self._act(lambda: revoke(self.store, number, reason),
                         lambda cert: tr("Revoked {0}: {1}").format(number,
                                                                    cert.revoked_reason),
                         number)

    def supersede_selected(self, reason: str, out_dir: str, passphrase: str = ""):
        """Supersede the certificate selected, signing with the office key opened with
        ``passphrase`` (a key already unlocked by the person signed in needs none)."""
        number, language = self._number()

        def work(render):
            if passphrase:
                unlock_office_key(self.store, passphrase)
            return supersede(self.store, number, render, out_dir, reason,
                             template=template_to_register())
        return self._act(
            lambda: self._rendering(language, work),
            lambda issued: tr("{0} supersedes {1}; written to {2}").format(
                issued.number, number, issued.pdf_path), number)

    def show_history(self) -> Optional[QDialog]:
        row = self.selected_row()
        if row is None:
            return None
        dialog = history_dialog(self, tr("History of certificate {0} ({1})").format(
            row.number, row.parcel_code), certificate_history(self.store, row.number))
        dialog.show()
        return dialog

    def office_key_dialog(self) -> QDialog:
        self._follow_sign_in()
        return OfficeKeyDialog(self.store, self)

    # --- the buttons that ask first ---------------------------------------------------
    def _office_key_clicked(self) -> None:
        try:
            dialog = self.office_key_dialog()
        except PermissionDeniedError as error:
            self.refresh()
            self._show(refusal_text(error), ok=False)
            return
        dialog.exec_()

    def _reprint_clicked(self) -> None:
        out_dir = QFileDialog.getExistingDirectory(self, tr("Folder for the reprinted PDF"))
        if out_dir:
            self.reprint_selected(out_dir)

    def _revoke_clicked(self) -> None:
        number, _language = self._number()
        reason = text_box()
        if not ask(self, tr("Revoke a certificate"),
                   tr("Certificate {0} will be marked revoked, with the reason, and stays in "
                      "the register. Its holders keep their approved claims.").format(number),
                   [(tr("Reason"), reason)], tr("Revoke…")):
            return
        text = reason.toPlainText()
        if text.strip() and not confirm(
                self, tr("Revoke {0}").format(number),
                tr("Revoke certificate {0}? This cannot be undone: a scan of it will say "
                   "REVOKED from now on.").format(number)):
            return
        self.revoke_selected(text)  # a blank reason: the core says it is needed

    def _supersede_clicked(self) -> None:
        number, _language = self._number()
        reason, passphrase = text_box(), password_box()
        if not ask(self, tr("Supersede a certificate"),
                   tr("A new certificate is issued for the parcel from its current claims, "
                      "which must be approved again; {0} then says SUPERSEDED and names "
                      "the new one.").format(number),
                   [(tr("Reason"), reason), (tr("Office key passphrase"), passphrase)],
                   tr("Choose the folder…")):
            return
        out_dir = QFileDialog.getExistingDirectory(self, tr("Folder for the new certificate"))
        if out_dir:
            self.supersede_selected(reason.toPlainText(), out_dir, passphrase.text())

    def _show(self, text: str, *, ok: bool) -> None:
        self.status.setStyleSheet(DONE_STYLE if ok else PROBLEM_STYLE)
        self.status.setText(text)

