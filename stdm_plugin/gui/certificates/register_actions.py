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

from typing import Optional

from qgis.core import QgsProject

from ...core.store.errors import StdmError
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, shown_store
from ...qgis.store.sources import CredentialsError, open_store
from ..store.sign_in_actions import store_key


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
