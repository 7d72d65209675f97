"""The consistency check, the backup and the restore as QgsTasks, so that QGIS stays usable.

A store of many years (tens of thousands of parcels, gigabytes of scanned
documents) takes minutes to check, zip or unpack; in the main thread QGIS
would look hung. Each task opens what it needs inside ``run()`` (a SQLite
connection belongs to the thread that made it) and hands plain values back
to ``done`` on the main thread, from ``finished()``, where the message bar
and the project live.

A backup is signed, and a restore checked, with the key in the user's QGIS
profile (keyring.py); a restore the core refuses as unverified hands the
refusal itself back (``SafetyOutcome.refusal``), so that the action can offer
what to do about it.

The core's ``check_store``, ``backup_store`` and ``restore_store`` take no
progress or cancel callback, so the bar moves and Cancel is honoured between
the steps seen from here: before the store is opened, before the work, and
after it. A backup or restore cancelled after its file was written removes
that file again (it was new: neither ever overwrites), so Cancel always means
"nothing was written"; a check cancelled mid-way still reports, since it only
read.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from qgis.core import QgsTask

from ...core.safety.backup import Acceptance, backup_store, restore_store
from ...core.safety.consistency import ConsistencyReport, check_store
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ..i18n import tr
from .keyring import plugin_keyring


class SafetyCancelledError(Exception):
    """The user pressed Cancel; what the task wrote is removed before this propagates."""


@dataclass
class SafetyOutcome:
    """What a task hands back; plain values, since QGIS deletes the task after finished()."""

    label: str
    result: Any = None
    cancelled: bool = False
    #: why the work did not run to its end, for the message bar
    error: str = ""
    #: the core's refusal itself, for the actions that depend on its type
    refusal: Exception | None = None


class SafetyTask(QgsTask):
    """``work()`` in a worker thread; the outcome goes to ``done`` in the main thread."""

    def __init__(self, description: str, label: str,
                 done: Callable[[SafetyOutcome], None]) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self.done = done
        self.outcome = SafetyOutcome(label)

    def work(self) -> Any:
        raise NotImplementedError

    def run(self) -> bool:
        try:
            self.outcome.result = self.work()
            self.setProgress(100.0)
            return True
        except SafetyCancelledError:
            self.outcome.cancelled = True
        except StdmError as error:
            self.outcome.error = str(error)
            self.outcome.refusal = error
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            self.outcome.error = f"{type(error).__name__}: {error}"
        return False

    def step(self, percent: float) -> None:
        """Between two steps: raises when Cancel was pressed, else moves the bar."""
        if self.isCanceled():
            raise SafetyCancelledError()
        self.setProgress(percent)

    def finished(self, result: bool) -> None:
        if not result and not self.outcome.error:
            self.outcome.cancelled = True  # cancelled before run() started
        self.done(self.outcome)


class ConsistencyCheckTask(SafetyTask):
    """check_store on the task's own connection; the result is a ConsistencyReport."""

    def __init__(self, open_store: Callable[[], SettlementStore], label: str,
                 done: Callable[[SafetyOutcome], None]) -> None:
        super().__init__(tr("Checking the consistency of {0}").format(label), label, done)
        self._open = open_store

    def work(self) -> ConsistencyReport:
        self.step(5)
        with self._open() as store:
            self.step(10)
            return check_store(store)


class BackupTask(SafetyTask):
    """backup_store on the task's own connection; the result is the zip's Path."""

    def __init__(self, open_store: Callable[[], SettlementStore], target: str, label: str,
                 done: Callable[[SafetyOutcome], None]) -> None:
        super().__init__(tr("Backing up {0}").format(label), label, done)
        self._open = open_store
        self.target = target

    def work(self) -> Path:
        self.step(5)
        with self._open() as store:
            self.step(10)
            written = backup_store(store, self.target, keyring=plugin_keyring())
        if self.isCanceled():  # pressed while the zip was written: it is new, remove it
            written.unlink(missing_ok=True)
            raise SafetyCancelledError()
        return written


class RestoreTask(SafetyTask):
    """restore_store into a new file; the result is the restored store's path.

    ``accept`` is an administrator's acceptance of a backup that cannot be
    authenticated (the outcome's ``refusal`` is then an UnverifiedBackupError).
    """

    def __init__(self, backup: str, target: str,
                 done: Callable[[SafetyOutcome], None],
                 accept: Acceptance | None = None) -> None:
        super().__init__(tr("Restoring {0}").format(os.path.basename(backup)),
                         os.path.basename(target), done)
        self.backup = backup
        self.target = target
        self.accept = accept

    def work(self) -> str:
        self.step(5)
        restore_store(self.backup, self.target, keyring=plugin_keyring(),
                      accept_unverified=self.accept).close()
        if self.isCanceled():  # restore_store refuses an existing target: this one is new
            remove_store_file(self.target)
            raise SafetyCancelledError()
        return self.target


def remove_store_file(path: str) -> None:
    """Remove a SpatiaLite store this task made: the file, its WAL files, its documents."""
    for leftover in (path, path + "-wal", path + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    shutil.rmtree(path + ".documents", ignore_errors=True)
