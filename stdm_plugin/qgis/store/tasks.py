"""Long work in the background with a progress bar and Cancel (QgsTask)."""
from __future__ import annotations

from typing import Callable

from qgis.core import QgsTask

from ...core import SettlementStore, StdmError
from ...core.store.errors import FieldPackageError, PermissionDeniedError
from ...core.store.publish import RECORD_TABLES, copy_store
from ..i18n import tr
from .sources import PostgresConnection


def note_failure(outcome, error: Exception, cancelled: type[Exception]) -> None:
    """Put why a field package task stopped on its outcome (``cancelled``, ``error``,
    ``kind``) for the message bar: nothing is lost in the worker thread."""
    if isinstance(error, cancelled):
        outcome.cancelled = True
    elif isinstance(error, FieldPackageError):
        outcome.error, outcome.kind = str(error), error.kind
    elif isinstance(error, PermissionDeniedError):
        outcome.error, outcome.kind = str(error), "permission"
    elif isinstance(error, StdmError):
        outcome.error = str(error)
    else:
        outcome.error = f"{type(error).__name__}: {error}"


class PublishCancelledError(Exception):
    """The user pressed Cancel; the copy's transaction is rolled back."""


class PublishStoreTask(QgsTask):
    """Copy a SpatiaLite store into a new PostGIS schema; all or nothing."""

    def __init__(self, store_path: str, connection: PostgresConnection, actor: str,
                 done: Callable[[bool, str], None]) -> None:
        super().__init__(tr("Publishing {0} to PostGIS").format(store_path),
                         QgsTask.CanCancel)
        self.store_path = store_path
        self.connection = connection
        self.actor = actor
        self.done = done
        self.counts: dict[str, int] = {}
        self.error = ""

    def run(self) -> bool:
        try:
            params = self.connection.psycopg2_params()
            with SettlementStore.open(self.store_path, actor=self.actor,
                                      read_only=True) as source:
                total = sum(source.db.scalar(f"SELECT count(*) FROM {t}")
                            for t in RECORD_TABLES) or 1
                done_before: dict[str, int] = {}

                def progress(table: str, count: int) -> None:
                    if self.isCanceled():
                        raise PublishCancelledError()
                    done_before[table] = count
                    self.setProgress(100.0 * sum(done_before.values()) / total)

                with SettlementStore.create_postgis(params, self.connection.schema,
                                                    source.srid, actor=self.actor) as target:
                    try:
                        self.counts = copy_store(source, target, progress)
                    except BaseException:
                        target.db.execute(f'DROP SCHEMA "{target.db.schema}" CASCADE')
                        raise
            return True
        except PublishCancelledError:
            self.error = tr("Cancelled: nothing was published.")
        except StdmError as error:
            self.error = str(error)
        except Exception as error:  # reported in the message bar, not lost in a thread
            self.error = f"{type(error).__name__}: {error}"
        return False

    def finished(self, result: bool) -> None:
        if result:
            summary = ", ".join(f"{table} {count}" for table, count in self.counts.items())
            self.done(True, tr("Published to {0}: {1}").format(self.connection.label, summary))
        else:
            self.done(False, self.error or tr("Publishing was cancelled."))
