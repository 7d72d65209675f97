"""The certificate register's small windows: the office signing key and a certificate's history.

Opened from the register window (register_dialog.py) and from the menu
(register_actions.py); they share the look of the register's messages.
"""
from __future__ import annotations

import html
import os
from typing import Optional

from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from ...core.certificates.key_vault import MIN_PASSPHRASE_CHARS
from ...core.certificates.office_keys import (
    OfficeKey,
    active_office_key,
    create_office_key,
    export_public_keys,
    key_is_protected,
    protect_office_key,
    retire_office_key,
)
from ...core.certificates.office_keys import office_keys as all_office_keys
from ...core.store.errors import StdmError
from ...qgis.i18n import tr
from ..store.sign_in_dialog import PROBLEM_STYLE
from ..store.tables import events_window

DONE_STYLE = "color: #2b6e2b;"


def event_label(event: str) -> str:
    return {"issued": tr("issued"), "reprinted": tr("reprinted"), "revoked": tr("revoked"),
            "superseded": tr("superseded")}.get(event, event)


def password_box() -> QLineEdit:
    box = QLineEdit()
    box.setEchoMode(QLineEdit.Password)
    return box


def confirm(parent, title: str, text: str) -> bool:
    return QMessageBox.question(parent, title, text, QMessageBox.Yes | QMessageBox.No,
                                QMessageBox.No) == QMessageBox.Yes


class OfficeKeyDialog(QDialog):
    """The key that signs the office's certificates: which one, a new one, protecting an
    old one with a passphrase, retiring one, the public keys.

    Creating a key retires the one in use: certificates it signed still
    verify (their key stays in the store and in every export). The private
    key is kept encrypted with the passphrase typed here, which land officers
    type again to issue; the export holds every public key and when each was
    in use, for verifiers who have no copy of the register.
    """

    def __init__(self, store, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(tr("Office signing key"))
        self.setMinimumWidth(680)
        layout = QVBoxLayout(self)
        self.current = QLabel()
        self.current.setWordWrap(True)
        layout.addWidget(self.current)
        form = QFormLayout()
        self.office_name = QLineEdit()
        self.office_name.setPlaceholderText(tr("e.g. Koumassi land office"))
        form.addRow(tr("Office name"), self.office_name)
        self.passphrase, self.repeated = password_box(), password_box()
        self.passphrase.setPlaceholderText(tr("at least {0} characters; a few words").format(
            MIN_PASSPHRASE_CHARS))
        form.addRow(tr("Key passphrase"), self.passphrase)
        form.addRow(tr("Passphrase again"), self.repeated)
        hint = QLabel(tr("The passphrase protects the key: land officers type it to issue "
                         "certificates, and a copy of the store cannot sign without it. It "
                         "cannot be recovered: if it is lost, create a new key."))
        hint.setWordWrap(True)
        layout.addLayout(form)
        layout.addWidget(hint)
        line = QHBoxLayout()
        self.create_button = QPushButton(tr("Create a new key…"))
        self.create_button.clicked.connect(self._create_clicked)
        self.protect_button = QPushButton(tr("Protect it"))
        self.protect_button.clicked.connect(self._protect_clicked)
        self.retire_button = QPushButton(tr("Retire it…"))
        self.retire_button.clicked.connect(self._retire_clicked)
        self.export_button = QPushButton(tr("Export public keys…"))
        self.export_button.clicked.connect(self._export_clicked)
        for button in (self.create_button, self.protect_button, self.retire_button,
                       self.export_button):
            button.setToolTip({self.create_button: tr("Make a new key under the passphrase "
                                                      "typed above; the key in use is retired"),
                               self.protect_button: tr("Encrypt the key in use with the "
                                                       "passphrase typed above"),
                               self.retire_button: tr("Stop signing with the key in use"),
                               self.export_button: tr("Write every public key, for verifiers "
                                                      "without the register")}[button])
            line.addWidget(button)
        line.addStretch(1)
        layout.addLayout(line)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.adjustSize()  # the wrapped texts know their height once the width is set

    def refresh(self) -> Optional[OfficeKey]:
        key = active_office_key(self.store)
        retired = sum(1 for k in all_office_keys(self.store) if k.retired_at)
        protected = key is not None and key_is_protected(self.store, key.id)
        if key is None:
            text = tr("This office has no signing key yet: certificates cannot be issued "
                      "until one is created.")
        else:
            text = tr("Key in use: <b>{0}</b>, for <b>{1}</b>, created {2} by {3}.").format(
                key.id, html.escape(key.office_name), key.created_at[:10],
                html.escape(key.created_by))
            text += " " + (tr("Its private part is protected by a passphrase.") if protected
                           else "<b>" + tr("Its private part is NOT protected: anyone with a "
                                           "copy of the store could sign. Type a passphrase "
                                           "and protect it, then create a new key.") + "</b>")
            if not self.office_name.text():
                self.office_name.setText(key.office_name)
        if retired:
            text += "<br>" + tr("{0} retired key(s): the certificates they signed while in "
                                "use still verify.").format(retired)
        self.current.setText(text)
        self.protect_button.setVisible(key is not None and not protected)
        self.retire_button.setEnabled(key is not None)
        self.export_button.setEnabled(key is not None or retired > 0)
        return key

    def create_key(self, office_name: str, passphrase: str,
                   repeated: Optional[str] = None) -> Optional[OfficeKey]:
        """Make the new key (the core checks the role, the name and the passphrase)."""
        if not self._same(passphrase, repeated):
            return None
        try:
            key = create_office_key(self.store, office_name, passphrase)
        except StdmError as error:
            self._show(tr("Not done: {0}").format(error), ok=False)
            return None
        self._clear_passphrase()
        self.refresh()
        self._show(tr("New key {0} created; new certificates are signed with it, with the "
                      "passphrase you typed.").format(key.id), ok=True)
        return key

    def protect_key(self, passphrase: str, repeated: Optional[str] = None) -> bool:
        if not self._same(passphrase, repeated):
            return False
        try:
            key = protect_office_key(self.store, passphrase)
        except StdmError as error:
            self._show(tr("Not done: {0}").format(error), ok=False)
            return False
        self._clear_passphrase()
        self.refresh()
        self._show(tr("Key {0} is now protected by the passphrase. Copies of the store made "
                      "before today still hold it unprotected: create a new key soon.").format(
                          key.id), ok=True)
        return True

    def retire_key(self, reason: str) -> bool:
        key = active_office_key(self.store)
        try:
            if key is None:
                raise StdmError(tr("There is no key in use."))
            retire_office_key(self.store, key.id, reason)
        except StdmError as error:
            self._show(tr("Not done: {0}").format(error), ok=False)
            return False
        self.refresh()
        self._show(tr("Key {0} is retired: certificates cannot be issued until a new key is "
                      "created; those it signed still verify.").format(key.id), ok=True)
        return True

    def export_to(self, path: str) -> bool:
        try:
            export_public_keys(self.store, path)
        except (StdmError, OSError) as error:
            self._show(tr("The public keys were not written: {0}").format(error), ok=False)
            return False
        self._show(tr("Wrote the public keys to {0}: give this file to verifiers who "
                      "have no copy of the register.").format(path), ok=True)
        return True

    def _same(self, passphrase: str, repeated: Optional[str]) -> bool:
        if repeated is not None and passphrase != repeated:
            self._show(tr("Not done: the two passphrases differ."), ok=False)
            return False
        return True

    def _clear_passphrase(self) -> None:
        self.passphrase.clear()
        self.repeated.clear()

    def _create_clicked(self) -> None:
        key = active_office_key(self.store)
        text = tr("Create a new signing key for {0}?").format(self.office_name.text().strip())
        if key is not None:
            text += " " + tr("The key in use now ({0}) is retired: the certificates it signed "
                             "still verify; new ones are signed with the new key.").format(
                                 key.id)
        if confirm(self, tr("New office key"), text):
            self.create_key(self.office_name.text(), self.passphrase.text(),
                            self.repeated.text())

    def _protect_clicked(self) -> None:
        self.protect_key(self.passphrase.text(), self.repeated.text())

    def _retire_clicked(self) -> None:
        reason, ok = QInputDialog.getText(
            self, tr("Retire the office key"),
            tr("Why is the key retired (for example: passphrase lost, a laptop with the store "
               "was stolen)? Certificates cannot be issued until a new key is created."))
        if ok:
            self.retire_key(reason)

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, tr("Export the office's public keys"),
            os.path.join(os.path.expanduser("~"), "stdm-public-keys.json"),
            tr("Public key file (*.json);;All files (*)"))
        if path:
            self.export_to(path)

    def _show(self, text: str, *, ok: bool) -> None:
        self.status.setStyleSheet(DONE_STYLE if ok else PROBLEM_STYLE)
        self.status.setText(text)


def history_dialog(parent, title: str, events: list[dict]) -> QDialog:
    """The register's events of one certificate, oldest first."""
    rows = []
    for event in events:
        digest = event["pdf_sha256"] or ""
        values = (event["happened_at"].replace("T", " ")[:19], event_label(event["event"]),
                  event["happened_by"], event["reason"] or "", event["other_number"] or "")
        rows.append([(value, value) for value in values]
                    + [(f"{digest[:16]}…" if digest else "", digest)])
    return events_window(parent, title, title,
                         [tr("When (UTC)"), tr("Act"), tr("By"), tr("Reason"),
                          tr("Other certificate"), tr("PDF SHA-256")], rows, (900, 260))
