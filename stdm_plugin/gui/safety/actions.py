"""The plugin's store safety actions: consistency check, backup and restore.

A mixin of StdmPlugin (it uses the plugin's ``iface``, ``menu``, message
helpers and ``show_store``), kept apart so that plugin.py stays a readable
list of actions. The menu actions ask their file names with dialogs, then
run the work as a QgsTask (qgis/safety/tasks.py: progress bar and Cancel in
QGIS's task manager), since a store of years of fieldwork and scanned
documents takes minutes to check, zip or unpack and QGIS must not freeze
meanwhile. The outcome reaches the message bar (and the CSV offer, or the
restored store shown in the project) from the task's ``finished()`` on the
main thread. ``start_check``, ``start_backup`` and ``start_restore`` start
those tasks without dialogs and return them; ``check_shown_store``,
``backup_store_to``, ``restore_backup_to`` and ``export_backup_key_to`` do the
same work inline and return its result, for scripts (the QGIS Python console)
and tests that want the answer at once. Both paths report with the same
messages. A restore refused because the backup cannot be authenticated offers,
after the task, to import the store's backup key or to accept the backup as
an administrator, and then tries again (backup_trust_dialogs.py).
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Callable

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtWidgets import QFileDialog, QMessageBox

from ...core.safety.backup import (
    Acceptance,
    UnverifiedBackupError,
    backup_file_name,
    backup_store,
    restore_store,
)
from ...core.safety.consistency import KIND_LABELS, ConsistencyReport, check_store
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ...core.store.store import default_actor
from ...qgis.i18n import tr
from ...qgis.project.project import shown_store
from ...qgis.safety.keyring import plugin_keyring
from ...qgis.safety.tasks import (
    BackupTask,
    ConsistencyCheckTask,
    RestoreTask,
    SafetyOutcome,
    SafetyTask,
)
from ...qgis.store.sources import (
    CredentialsError,
    NotAStoreLayerError,
    SpatiaLiteSource,
    open_store,
    source_of_layer,
)
from ...qgis.submissions.import_task import store_opener
from ..store.sign_in_actions import NO_STORE_SHOWN
from .key_actions import STORE_FILES, BackupKeyActions

BACKUP_FILES = "Settlement store backup (*.zip);;All files (*)"


class StoreSafetyActions(BackupKeyActions):
    """Check, back up and restore; mixed into StdmPlugin."""

    #: the running check, backup or restore, one at a time (QGIS does not keep the Python
    #: object alive); a class default, since StdmPlugin.__init__ does not set it
    safety_task: SafetyTask | None = None

    def safety_menu_entries(self) -> list:
        """(text, slot, tip, on the toolbar) of the safety actions, for the STDM menu."""
        return [
            (tr("Check store consistency…"), self.check_consistency,
             tr("Look for orphan references, tenure shares over 1, missing or changed documents "
                "and invalid geometries in the store shown in this project"), False),
            (tr("Back up store…"), self.back_up_store,
             tr("Write a zip of the store shown in this project and its documents, while it "
                "is in use, signed with the store's backup key"), False),
            (tr("Restore store from backup…"), self.restore_from_backup,
             tr("Check a backup zip and restore it as a new store file, shown in this "
                "project"), False),
            (tr("Export backup key…"), self.export_backup_key,
             tr("Save the backup key of the store shown in this project, to restore its "
                "backups on another computer"), False),
        ]

    # --- menu actions (dialogs) ---------------------------------------------
    def check_consistency(self) -> None:
        self.start_check(then=self._offer_findings_csv)

    def _offer_findings_csv(self, report: ConsistencyReport) -> None:
        if report.ok:
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
            self.start_backup("")  # says why a PostGIS store is backed up with pg_dump
            return
        if not store_path:
            return
        target, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Back up the settlement store"),
            os.path.join(os.path.dirname(store_path), backup_file_name(store_path)),
            tr(BACKUP_FILES))
        if target:
            self.start_backup(target, store_path)

    def restore_from_backup(self) -> None:
        backup, _ = QFileDialog.getOpenFileName(
            self.iface.mainWindow(), tr("Backup to restore"), "", tr(BACKUP_FILES))
        if not backup:
            return
        target, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Restore as a new settlement store"),
            os.path.join(os.path.dirname(backup), "restored.sqlite"), tr(STORE_FILES))
        if target:
            self.start_restore(backup, target)

    # --- the work as tasks, without dialogs ---------------------------------
    def start_check(self, then: Callable[[ConsistencyReport], None] | None = None
                    ) -> ConsistencyCheckTask | None:
        """Check the store shown in a task; ``then`` gets the report on the main thread."""
        if self._safety_task_running():
            return None
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        try:
            opener = store_opener(source, default_actor())
        except CredentialsError as error:
            self._check_failed(error)
            return None

        def done(outcome: SafetyOutcome) -> None:
            if not self._safety_task_ended():
                return
            if outcome.cancelled:
                self._warning(tr("The consistency check of {0} was cancelled.").format(
                    outcome.label))
            elif outcome.error:
                self._check_failed(outcome.error)
            else:
                self._report_check(outcome.label, outcome.result)
                if then is not None:
                    then(outcome.result)

        return self._start(ConsistencyCheckTask(opener, source.label, done))

    def start_backup(self, target: str, store_path: str | None = None) -> BackupTask | None:
        """Back up ``store_path`` (default: the store shown) to ``target`` in a task."""
        if self._safety_task_running():
            return None
        if store_path:
            label = os.path.basename(store_path)
            opener = partial(SettlementStore.open, store_path)
        else:
            source = self._shown_source()
            if source is None:
                self._error(tr(NO_STORE_SHOWN))
                return None
            label = source.label
            try:
                opener = store_opener(source, default_actor())
            except CredentialsError as error:
                self._backup_failed(error)
                return None

        def done(outcome: SafetyOutcome) -> None:
            if not self._safety_task_ended():
                return
            if outcome.cancelled:
                self._warning(tr("The backup of {0} was cancelled; no backup was "
                                 "written.").format(outcome.label))
            elif outcome.error:
                self._backup_failed(outcome.error)
            else:
                self._backed_up(outcome.result)

        return self._start(BackupTask(opener, target, label, done))

    def start_restore(self, backup: str, target: str, accept: Acceptance | None = None,
                      offer: bool = True) -> RestoreTask | None:
        """Restore ``backup`` as the new store ``target`` in a task, then show it.

        When the backup cannot be authenticated, ``offer`` asks (on the main thread, after
        the task) whether to import the store's backup key or accept it as an administrator.
        """
        if self._safety_task_running():
            return None

        def done(outcome: SafetyOutcome) -> None:
            if not self._safety_task_ended():
                return
            if outcome.cancelled:
                self._warning(tr("The restore of {0} was cancelled; no store was "
                                 "written.").format(backup))
            elif isinstance(outcome.refusal, UnverifiedBackupError):
                self._restore_unverified(outcome.refusal, backup)
                if offer:
                    self._offer_after_unverified(outcome.refusal, backup, target)
            elif outcome.error:
                self._restore_failed(outcome.error)
            else:
                self._show_restored(backup, target)

        return self._start(RestoreTask(backup, target, done, accept))

    def _start(self, task: SafetyTask) -> SafetyTask:
        self.safety_task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def _safety_task_running(self) -> bool:
        if self.safety_task is None:
            return False
        self._warning(tr("A store check, backup or restore is running; wait for it to "
                         "finish, or cancel it in the task bar."))
        return True

    def _safety_task_ended(self) -> bool:
        """Forget the finished task; False when the plugin was unloaded meanwhile."""
        self.safety_task = None
        return self.menu is not None

    # --- the work inline, for scripts and tests -------------------------------
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
            self._check_failed(error)
            return None
        self._report_check(source.label, report)
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
                written = backup_store(store, target, keyring=plugin_keyring())
        except (StdmError, CredentialsError) as error:
            self._backup_failed(error)
            return None
        self._backed_up(written)
        return written

    def restore_backup_to(self, backup: str, target: str,
                          accept: Acceptance | None = None) -> bool:
        """Restore ``backup`` as the new store ``target`` and show it in the project;
        ``accept`` is an administrator's acceptance of a backup that cannot be authenticated."""
        try:
            restore_store(backup, target, keyring=plugin_keyring(),
                          accept_unverified=accept).close()
        except UnverifiedBackupError as error:
            self._restore_unverified(error, backup)
            return False
        except StdmError as error:
            self._restore_failed(error)
            return False
        return self._show_restored(backup, target)

    # --- what both paths say -----------------------------------------------------
    def _report_check(self, label: str, report: ConsistencyReport) -> None:
        if report.ok:
            self._success(tr("No problems found in {0}.").format(label))
        else:
            kinds = "; ".join(f"{KIND_LABELS[kind]}: {count}"
                              for kind, count in report.counts().items())
            self._warning(tr("{0} problem(s) found in {1}: {2}").format(
                len(report.findings), label, kinds))

    def _check_failed(self, error: object) -> None:
        self._error(tr("The store could not be checked: {0}").format(error))

    def _backed_up(self, written: Path) -> None:
        self._success(tr("Backed up the settlement store to {0}").format(written))

    def _backup_failed(self, error: object) -> None:
        self._error(tr("The backup was not made: {0}").format(error))

    def _restore_failed(self, error: object) -> None:
        self._error(tr("The backup was not restored: {0}").format(error))

    def _show_restored(self, backup: str, target: str) -> bool:
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
