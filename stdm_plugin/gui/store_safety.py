"""The plugin's store safety actions: consistency check, backup and restore.

A mixin of StdmPlugin (it uses the plugin's ``iface``, message helpers and
``show_store``), kept apart so that plugin.py stays a readable list of
actions. The work runs inline, in the main thread: a settlement store is a
few megabytes and the check, the backup and the restore take seconds, less
than a task's set-up would be worth. Each action asks its file names with
dialogs, then calls a dialog-free public method that tests and scripts
call directly.
"""
from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsProject
from qgis.PyQt.QtWidgets import QFileDialog, QMessageBox

from ..core.backup import backup_file_name, backup_store, restore_store
from ..core.consistency import KIND_LABELS, ConsistencyReport, check_store
from ..core.errors import StdmError
from ..core.store import SettlementStore
from ..qgis.i18n import tr
from ..qgis.project import shown_store
from ..qgis.sources import (
    CredentialsError,
    NotAStoreLayerError,
    SpatiaLiteSource,
    open_store,
    source_of_layer,
)

NO_STORE_SHOWN = ("Show a settlement store in this project first (STDM ▸ New or Open "
                  "settlement store).")
STORE_FILES = "SpatiaLite settlement store (*.sqlite *.db);;All files (*)"
BACKUP_FILES = "Settlement store backup (*.zip);;All files (*)"


class StoreSafetyActions:
    """Check, back up and restore; mixed into StdmPlugin."""

    # --- menu actions (dialogs) ---------------------------------------------
    def check_consistency(self) -> None:
        report = self.check_shown_store()
        if report is None or report.ok:
            return
        answer = QMessageBox.question(
            self.iface.mainWindow(), tr("Store consistency"),
            tr("{0} problem(s) found. Save the list as a CSV file?").format(
                len(report.findings)))
        if answer != QMessageBox.Yes:
            return
        path, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Save the consistency findings"),
            "consistency-findings.csv", tr("CSV (*.csv)"))
        if path:
            self.save_findings(report, path)

    def back_up_store(self) -> None:
        shown = self._shown_source()
        if shown is None:
            store_path, _ = QFileDialog.getOpenFileName(
                self.iface.mainWindow(), tr("Store to back up"), "", tr(STORE_FILES))
        elif isinstance(shown, SpatiaLiteSource):
            store_path = shown.path
        else:
            self.backup_store_to("")  # says why a PostGIS store is backed up with pg_dump
            return
        if not store_path:
            return
        target, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Back up the settlement store"),
            os.path.join(os.path.dirname(store_path), backup_file_name(store_path)),
            tr(BACKUP_FILES))
        if target:
            self.backup_store_to(target, store_path)

    def restore_from_backup(self) -> None:
        backup, _ = QFileDialog.getOpenFileName(
            self.iface.mainWindow(), tr("Backup to restore"), "", tr(BACKUP_FILES))
        if not backup:
            return
        target, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Restore as a new settlement store"),
            os.path.join(os.path.dirname(backup), "restored.sqlite"), tr(STORE_FILES))
        if target:
            self.restore_backup_to(backup, target)

    # --- the work, callable without dialogs ---------------------------------
    def check_shown_store(self) -> ConsistencyReport | None:
        """Check the store shown in the project; the message bar says the outcome."""
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        try:
            with open_store(source) as store:
                report = check_store(store)
        except (StdmError, CredentialsError) as error:
            self._error(tr("The store could not be checked: {0}").format(error))
            return None
        if report.ok:
            self._success(tr("No problems found in {0}.").format(source.label))
        else:
            kinds = "; ".join(f"{KIND_LABELS[kind]}: {count}"
                              for kind, count in report.counts().items())
            self._warning(tr("{0} problem(s) found in {1}: {2}").format(
                len(report.findings), source.label, kinds))
        return report

    def save_findings(self, report: ConsistencyReport, path: str) -> bool:
        try:
            report.write_csv(path)
        except OSError as error:
            self._error(tr("The findings were not saved: {0}").format(error))
            return False
        self._success(tr("Saved {0} finding(s) to {1}").format(len(report.findings), path))
        return True

    def backup_store_to(self, target: str, store_path: str | None = None) -> Path | None:
        """Back up ``store_path`` (default: the store shown) to ``target`` (zip or folder)."""
        try:
            if store_path:
                store = SettlementStore.open(store_path)
            else:
                source = self._shown_source()
                if source is None:
                    self._error(tr(NO_STORE_SHOWN))
                    return None
                store = open_store(source)
            with store:
                written = backup_store(store, target)
        except (StdmError, CredentialsError) as error:
            self._error(tr("The backup was not made: {0}").format(error))
            return None
        self._success(tr("Backed up the settlement store to {0}").format(written))
        return written

    def restore_backup_to(self, backup: str, target: str) -> bool:
        """Restore ``backup`` as the new store ``target`` and show it in the project."""
        try:
            restore_store(backup, target).close()
        except StdmError as error:
            self._error(tr("The backup was not restored: {0}").format(error))
            return False
        if not self.show_store(target):
            return False
        self._success(tr("Restored {0} from {1}").format(target, backup))
        return True

    def _shown_source(self):
        """Where the store shown in the project lives, or None when none is shown."""
        shown = shown_store(QgsProject.instance(), self.iface.activeLayer())
        if shown is None:
            return None
        try:
            return source_of_layer(shown[1]["parcels"])
        except NotAStoreLayerError:
            return None
