"""Import of exported submissions in the background, into the store shown in the project.

The import can read tens of thousands of rows, so it runs as a QgsTask with
a progress bar and Cancel. It opens its own connection to the store inside
``run()``: a SQLite connection belongs to the thread that made it, and the
layers' connections in the main thread must stay free for the map. The
credentials of a PostGIS store are read from QGIS's authentication
manager before the task starts, in the main thread, where it lives.

Cancel raises from the progress callback, which the core calls inside the
import's one transaction (valid rows are kept in savepoints of that same
transaction), so a cancelled import rolls back whole in both modes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from qgis.core import QgsMapLayer, QgsProject, QgsTask, QgsVectorLayer

from ...core.forms.forms import load_form
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ...core.submissions.form_mapping import mapping_from_form
from ...core.submissions.mapping import FieldMapping
from ...core.submissions.report import ImportReport
from ...core.submissions.submissions import ALL_OR_NOTHING, import_submissions
from ..forms.rules import shipped_form_path
from ..i18n import tr
from ..project.project import shown_store, store_groups, store_layers
from ..store.sources import (
    CredentialsError,
    NotAStoreLayerError,
    PostgresConnection,
    SpatiaLiteSource,
    open_store,
    source_of_layer,
)

Source = Union[SpatiaLiteSource, PostgresConnection]
#: the column naming of the server that exported the plugin's own form
FLAVOURS = ("odk_central", "kobo")


class ImportSetupError(RuntimeError):
    """Why an import cannot start; the message is for the message bar."""


class ImportCancelledError(Exception):
    """The user pressed Cancel; raised inside the import's transaction to roll it back."""


@dataclass
class ImportRequest:
    """What the user chose in the import dialog, before any file is read."""

    files: list[str]
    mode: str = ALL_OR_NOTHING
    media_dir: Optional[str] = None
    #: a saved mapping file; None for the plugin's own form
    mapping_path: Optional[str] = None
    #: the settlement that new parcels go in (the plugin's own form only)
    settlement_code: str = ""
    flavour: str = "odk_central"

    def load_mapping(self) -> FieldMapping:
        """The mapping, read now so that a broken YAML is reported before the task starts.

        Raises MappingError or FormDefinitionError (both StdmError) with where it broke.
        """
        if self.mapping_path:
            return FieldMapping.load(self.mapping_path).check()
        return mapping_from_form(load_form(shipped_form_path()), self.settlement_code,
                                 self.flavour)


@dataclass
class ImportTarget:
    """The store shown in the project that an import goes into, as the dialog needs it."""

    source: Source
    label: str
    #: (code, "code — name") of the store's settlements, by code
    settlements: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def for_project(cls, project: QgsProject,
                    active_layer: Optional[QgsMapLayer] = None) -> "ImportTarget":
        """The store of the active layer's group, else the top store in the layer tree."""
        shown = shown_store(project, active_layer)
        if shown is None:
            raise ImportSetupError(tr("Show a settlement store in this project first (STDM ▸ "
                                      "New or Open settlement store), then import into it."))
        group, layers = shown
        try:
            source = source_of_layer(layers["parcels"])
            with open_store(source) as store:
                settlements = [(s.code, f"{s.code} — {s.name}")
                               for s in store.settlements.find(order_by="code")]
        except (StdmError, CredentialsError, NotAStoreLayerError) as error:
            raise ImportSetupError(tr("The store could not be opened: {0}").format(
                error)) from error
        return cls(source, str(group.customProperty("stdm/store")), settlements)

    def layers(self, project: QgsProject) -> dict[str, QgsVectorLayer]:
        """The store's layers now (the user may have removed the group during the import)."""
        for group in store_groups(project):
            if group.customProperty("stdm/store") == self.label:
                return store_layers(group)
        return {}


def own_form_files() -> list[str]:
    """The file names an export of the plugin's own form must have, to tell the user;
    empty if the shipped form cannot be read (the import will then say why)."""
    try:  # the names do not depend on the settlement: any code gives them
        mapping = ImportRequest(files=[], settlement_code="X").load_mapping()
    except StdmError:
        return []
    return [table.file for table in mapping.tables]


def store_opener(source: Source, actor: str) -> Callable[[], SettlementStore]:
    """How the task connects, prepared in the main thread (QGIS's auth manager is there)."""
    if isinstance(source, SpatiaLiteSource):
        path = source.path
        return lambda: SettlementStore.open(path, actor=actor)
    params, schema = source.psycopg2_params(), source.schema
    return lambda: SettlementStore.open_postgis(params, schema, actor=actor)


@dataclass
class ImportOutcome:
    """What the task hands back; plain values, since QGIS deletes the task after finished()."""

    target: ImportTarget
    report: Optional[ImportReport] = None
    cancelled: bool = False
    #: why the import did not run to its end (a store or mapping error), if it did not
    error: str = ""


class ImportSubmissionsTask(QgsTask):
    """import_submissions in the background; the outcome goes to ``done`` in the main thread."""

    def __init__(self, target: ImportTarget, request: ImportRequest, mapping: FieldMapping,
                 actor: str, done: Callable[[ImportOutcome], None]) -> None:
        super().__init__(tr("Importing submissions into {0}").format(target.label),
                         QgsTask.CanCancel)
        self.target = target
        self.request = request
        self.mapping = mapping
        self.done = done
        self._open = store_opener(target.source, actor)  # raises CredentialsError here
        self._outcome = ImportOutcome(target)

    def run(self) -> bool:
        try:
            with self._open() as store:
                self._outcome.report = import_submissions(
                    store, self.request.files, self.mapping, mode=self.request.mode,
                    media_dir=self.request.media_dir, progress=self._progress)
            return True
        except ImportCancelledError:
            self._outcome.cancelled = True
        except StdmError as error:
            self._outcome.error = str(error)
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            self._outcome.error = f"{type(error).__name__}: {error}"
        return False

    def _progress(self, done: int, total: int) -> None:
        """Called by the core inside its transaction: raising here rolls the import back."""
        if self.isCanceled():
            raise ImportCancelledError()
        self.setProgress(100.0 * done / max(total, 1))

    def finished(self, result: bool) -> None:
        if not result and not self._outcome.error:
            self._outcome.cancelled = True  # cancelled before run() started
        self.done(self._outcome)
