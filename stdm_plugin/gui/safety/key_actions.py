"""Backup keys in the plugin: export one, import one, and what follows an unverified restore.

A mixin of StoreSafetyActions (it uses the plugin's ``iface``, message
helpers, ``_shown_source`` and ``start_restore``). The keys live in the
user's QGIS profile (qgis/safety/keyring.py). ``export_backup_key`` and
``_offer_after_unverified`` ask with dialogs; ``export_backup_key_to`` and
``import_backup_key`` do the work inline, for scripts and tests.
"""
from __future__ import annotations

import os
from pathlib import Path

from qgis.PyQt.QtWidgets import QFileDialog

from ...core.safety.backup import UnverifiedBackupError
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ...qgis.i18n import tr
from ...qgis.safety.keyring import plugin_keyring
from ...qgis.store.sources import SpatiaLiteSource
from . import backup_trust_dialogs as trust_dialogs

STORE_FILES = "SpatiaLite settlement store (*.sqlite *.db);;All files (*)"


class BackupKeyActions:
    """Export and import backup keys; the offers after an unverified restore."""

    # --- menu action (dialogs) -----------------------------------------------------------
    def export_backup_key(self) -> None:
        store_path = self._spatialite_store_path(tr("Store whose backup key to export"))
        if not store_path:
            return
        target, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Export the backup key"),
            os.path.join(os.path.expanduser("~"),
                         Path(store_path).stem + "-backup-key.stdmkey"),
            tr(trust_dialogs.KEY_FILES))
        if target:
            self.export_backup_key_to(target, store_path)

    def _spatialite_store_path(self, question: str) -> str:
        """The SpatiaLite store shown, or one the user picks; '' (and says why) otherwise."""
        shown = self._shown_source()
        if shown is None:
            path, _ = QFileDialog.getOpenFileName(self.iface.mainWindow(), question, "",
                                                  tr(STORE_FILES))
            return path
        if isinstance(shown, SpatiaLiteSource):
            return shown.path
        self._error(tr("A store kept in PostgreSQL is backed up with PostgreSQL's pg_dump; it "
                       "has no backup key."))
        return ""

    def _offer_after_unverified(self, error: UnverifiedBackupError, backup: str,
                                target: str) -> None:
        """Import the key or accept as an administrator, then restore again; or stop."""
        parent = self.iface.mainWindow()
        choice = trust_dialogs.ask_what_to_do(parent, error, os.path.basename(backup))
        if choice == trust_dialogs.IMPORT_KEY:
            path = trust_dialogs.ask_key_file(parent)
            if path and self.import_backup_key(path):
                self.start_restore(backup, target)
        elif choice == trust_dialogs.ACCEPT:
            acceptance = trust_dialogs.ask_acceptance(parent, os.path.basename(backup))
            if acceptance is not None:
                self.start_restore(backup, target, accept=acceptance)

    # --- the work inline, for scripts and tests ---------------------------------------
    def export_backup_key_to(self, target: str, store_path: str) -> Path | None:
        """Save the backup key of the SpatiaLite store ``store_path`` (made now if it has
        none yet) to the new file ``target``."""
        try:
            with SettlementStore.open(store_path, read_only=True, upgrade=False) as store:
                store_id = store.store_id
            keyring = plugin_keyring()
            keyring.key_for(store_id, create=True)
            written = keyring.export_key(store_id, target)
        except StdmError as error:
            self._error(tr("The backup key was not exported: {0}").format(error))
            return None
        self._success(tr("Saved the backup key of {0} to {1}. Keep it apart from the backups "
                         "(in a password manager, or on a USB stick in a safe): whoever holds "
                         "it can make backups this plugin trusts.").format(
                             os.path.basename(store_path), written))
        return written

    def import_backup_key(self, path: str) -> bool:
        """Add the key in an exported key file to this computer's keyring."""
        try:
            store_id = plugin_keyring().import_key(path)
        except StdmError as error:
            self._error(tr("The backup key was not imported: {0}").format(error))
            return False
        self._success(tr("Imported the backup key of the store {0}.").format(store_id))
        return True

    def _restore_unverified(self, error: UnverifiedBackupError, backup: str) -> None:
        self._error(trust_dialogs.unverified_text(error, os.path.basename(backup)))
