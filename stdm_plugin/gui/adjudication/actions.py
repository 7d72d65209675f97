"""The plugin's "Adjudicate claims…" action: the adjudication window on the store shown.

A mixin of StdmPlugin, beside SignInActions (gui/store/sign_in_actions.py),
whose ``open_signed_in_store`` gives the store with the person signed in.
The window is not modal and keeps its own connection until it is closed;
it follows a sign-in or sign-out made while it is open.
"""
from __future__ import annotations

from typing import Optional

from qgis.core import QgsProject

from ...core.store.errors import StdmError
from ...core.store.users import User, resume_session, sign_out
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, shown_store
from ..store.sign_in_actions import store_key


class AdjudicationActions:
    """Adjudicate claims; mixed into StdmPlugin, whose __init__ sets
    ``adjudication_dialog = None``."""

    def adjudication_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        return (
            (tr("Adjudicate claims…"), self.adjudicate_claims,
             tr("Verify claims, open public displays, record and resolve objections and "
                "approve claims in the store shown in this project"), True),
        )

    def adjudicate_claims(self):
        """Open the adjudication window on the store shown; returns it (or None).

        The window is not modal: the officer selects parcels on the map while it is open.
        It keeps its own connection to the store until it is closed.
        """
        from .dialog import AdjudicationDialog

        if self.adjudication_dialog is not None:
            self.adjudication_dialog.raise_()
            self.adjudication_dialog.activateWindow()
            return self.adjudication_dialog
        opened = self.open_signed_in_store("record_objection")  # everyone signed in may
        if opened is None:
            return None
        store, source = opened
        layers = shown_store(QgsProject.instance(), self.iface.activeLayer())[1]

        def report(message: str, ok: bool) -> None:
            if ok:
                refresh_layers(layers)
                self._success(message)
            else:
                self._warning(message)

        try:
            dialog = AdjudicationDialog(store, source.label, layers["parcels"],
                                        self._language(), report, self.iface.mainWindow())
        except StdmError as error:
            store.close()
            self._error(tr("The claims could not be read: {0}").format(error))
            return None
        dialog.setProperty("stdm_store_key", store_key(source))
        dialog.finished.connect(lambda _result: self._adjudication_closed(store))
        layers["parcels"].willBeDeleted.connect(dialog.reject)  # project closed
        if self.menu is not None:
            self.menu.destroyed.connect(dialog.reject)  # plugin unloaded
        self.adjudication_dialog = dialog
        dialog.show()
        return dialog

    def _follow_sign_in(self, source, user: Optional[User]) -> None:
        """The adjudication window open on the same store follows who is signed in."""
        dialog = self.adjudication_dialog
        if dialog is None or dialog.property("stdm_store_key") != store_key(source):
            return
        if user is None:
            sign_out(dialog.store)
        else:
            resume_session(dialog.store, user.login)
        dialog.refresh()

    def _adjudication_closed(self, store) -> None:
        store.close()
        if self.adjudication_dialog is not None:
            self.adjudication_dialog.deleteLater()
        self.adjudication_dialog = None
