"""The plugin's certificate register and verification actions, and the register's small windows.

A mixin of StdmPlugin (like AdjudicationActions, whose ``open_signed_in_store``
it uses): "Certificate register…" opens a window over the store shown in
the project for anyone signed in to it, the acts needing their own roles;
"Verify certificate…" needs nobody signed in, since anyone holding a
certificate may ask whether it is genuine, and works without a store from
an exported public key file. Both windows are not modal and keep their own
connection to the store until closed. The office key window and a
certificate's history are opened from the register.
"""
from __future__ import annotations

import html
import os
from typing import Optional

from qgis.core import QgsProject
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from ...core.store.errors import StdmError
from ...core.certificates.signing import OfficeKey, active_office_key, create_office_key, export_public_keys
from ...core.certificates.signing import office_keys as all_office_keys
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, shown_store
from ...qgis.store.sources import CredentialsError, open_store
from ..adjudication.actions import store_key
from .register_dialog import DONE_STYLE, confirm, event_label
from ..store.sign_in_dialog import PROBLEM_STYLE
from ..store.tables import events_window


class RegisterActions:
    """Certificate register and verification; mixed into StdmPlugin (after
    AdjudicationActions), whose __init__ sets ``register_dialog = None`` and
    ``verify_dialog = None``."""

    def register_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        return (
            (tr("Certificate register…"), self.certificate_register,
             tr("List the certificates of the store shown in this project; reprint, revoke "
                "or supersede one; the office signing key (administrator)"), False),
            (tr("Verify certificate…"), self.verify_certificate,
             tr("Check a scanned certificate QR code against the register of the store "
                "shown in this project, or against an exported public key"), False),
        )

    def certificate_register(self):
        """Open the register window on the store shown; returns it (or None)."""
        from .register_dialog import RegisterDialog

        if self.register_dialog is not None:
            self.register_dialog.refresh()
            self.register_dialog.raise_()
            self.register_dialog.activateWindow()
            return self.register_dialog
        opened = self.open_signed_in_store("record_objection")  # everyone signed in may look
        if opened is None:
            return None
        store, source = opened
        layers = shown_store(QgsProject.instance(), self.iface.activeLayer())[1]
        key = store_key(source)

        def report(message: str, ok: bool) -> None:
            if ok:
                refresh_layers(layers)  # a supersession moves claims
                self._success(message)
            else:
                self._warning(message)

        def current_login() -> Optional[str]:
            signed = self.signed_in.get(key)
            return signed.login if signed else None

        try:
            dialog = RegisterDialog(store, source.label, layers["parcels"], report,
                                    current_login, self.iface.mainWindow())
        except StdmError as error:
            store.close()
            self._error(tr("The certificate register could not be read: {0}").format(error))
            return None
        dialog.finished.connect(lambda _result: self._register_closed(store))
        layers["parcels"].willBeDeleted.connect(dialog.reject)  # project closed
        self.register_dialog = dialog
        dialog.show()
        return dialog

    def verify_certificate(self):
        """Open the verification window; returns it. Without a store shown, or one that
        cannot be opened, it checks with a public key file only."""
        from .verify_dialog import VerifyDialog

        if self.verify_dialog is not None:
            self.verify_dialog.raise_()
            self.verify_dialog.activateWindow()
            return self.verify_dialog
        source, store = self._shown_source(), None
        if source is not None:
            try:
                store = open_store(source)
            except (StdmError, CredentialsError) as error:
                self._warning(tr("The store could not be opened, so certificates can only be "
                                 "checked with a public key file: {0}").format(error))
        dialog = VerifyDialog(store, source.label if store else "", self._language(),
                              self.iface.mainWindow())
        dialog.finished.connect(lambda _result: self._verify_closed(store))
        shown = shown_store(QgsProject.instance(), self.iface.activeLayer())
        if store is not None and shown is not None:
            shown[1]["parcels"].willBeDeleted.connect(dialog.reject)  # project closed
        self.verify_dialog = dialog
        dialog.show()
        return dialog

    def close_certificate_windows(self) -> None:
        """For unload: close the register and verification windows (and their stores)."""
        for dialog in (self.register_dialog, self.verify_dialog):
            if dialog is not None:
                dialog.reject()

    def _register_closed(self, store) -> None:
        store.close()
        if self.register_dialog is not None:
            self.register_dialog.deleteLater()
        self.register_dialog = None

    def _verify_closed(self, store) -> None:
        if store is not None:
            store.close()
        if self.verify_dialog is not None:
            self.verify_dialog.deleteLater()
        self.verify_dialog = None


class OfficeKeyDialog(QDialog):
    """The key that signs the office's certificates: which one, a new one, the public keys.

    Creating a key retires the one in use: certificates it signed still
    verify (their key stays in the store and in every export). The export
    holds every public key, for verifiers who have no copy of the register.
    """

    def __init__(self, store, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle(tr("Office signing key"))
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self.current = QLabel()
        self.current.setWordWrap(True)
        layout.addWidget(self.current)
        form = QFormLayout()
        self.office_name = QLineEdit()
        self.office_name.setPlaceholderText(tr("e.g. Koumassi land office"))
        form.addRow(tr("Office name"), self.office_name)
        layout.addLayout(form)
        line = QHBoxLayout()
        self.create_button = QPushButton(tr("Create a new key…"))
        self.create_button.clicked.connect(self._create_clicked)
        self.export_button = QPushButton(tr("Export public keys…"))
        self.export_button.clicked.connect(self._export_clicked)
        line.addWidget(self.create_button)
        line.addWidget(self.export_button)
        line.addStretch(1)
        layout.addLayout(line)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.refresh()

    def refresh(self) -> Optional[OfficeKey]:
        key = active_office_key(self.store)
        retired = sum(1 for k in all_office_keys(self.store) if k.retired_at)
        if key is None:
            text = tr("This office has no signing key yet: certificates cannot be issued "
                      "until one is created.")
        else:
            text = tr("Key in use: <b>{0}</b>, for <b>{1}</b>, created {2} by {3}.").format(
                key.id, html.escape(key.office_name), key.created_at[:10],
                html.escape(key.created_by))
            if not self.office_name.text():
                self.office_name.setText(key.office_name)
        if retired:
            text += "<br>" + tr("{0} retired key(s): the certificates they signed still "
                                "verify.").format(retired)
        self.current.setText(text)
        self.export_button.setEnabled(key is not None or retired > 0)
        return key

    def create_key(self, office_name: str) -> Optional[OfficeKey]:
        """Make the new key (the core checks the role and the name)."""
        try:
            key = create_office_key(self.store, office_name)
        except StdmError as error:
            self._show(tr("Not done: {0}").format(error), ok=False)
            return None
        self.refresh()
        self._show(tr("New key {0} created; new certificates are signed with it.").format(
            key.id), ok=True)
        return key

    def export_to(self, path: str) -> bool:
        try:
            export_public_keys(self.store, path)
        except (StdmError, OSError) as error:
            self._show(tr("The public keys were not written: {0}").format(error), ok=False)
            return False
        self._show(tr("Wrote the public keys to {0}: give this file to verifiers who "
                      "have no copy of the register.").format(path), ok=True)
        return True

    def _create_clicked(self) -> None:
        key = active_office_key(self.store)
        text = tr("Create a new signing key for {0}?").format(self.office_name.text().strip())
        if key is not None:
            text += " " + tr("The key in use now ({0}) is retired: the certificates it signed "
                             "still verify; new ones are signed with the new key.").format(
                                 key.id)
        if confirm(self, tr("New office key"), text):
            self.create_key(self.office_name.text())

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
