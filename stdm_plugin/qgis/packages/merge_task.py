"""Comparing a returned field package with the store, and merging it, in the background.

A package of a few thousand records is compared and merged in seconds, a
season's worth of a big team in minutes; either way QGIS must stay usable,
so both steps run as QgsTasks with a progress bar and Cancel. Each task
opens its own connection to the store inside ``run()`` (a SQLite connection
belongs to the thread that made it; the credentials of a PostGIS store are
read from QGIS's authentication manager in the main thread, where it
lives, by ``store_opener``) and makes the person signed in the one working
in it again (``resume_session``), so the core checks their role.

The comparison hands back the core's ``MergePlan``: rows read in the
worker, but plain Python values, which the dialog on the main thread may
read freely. The merge writes that plan in the core's one transaction;
Cancel pressed during the merge rolls it back whole
(``PackageCancelledError``). The comparison only reads, so Cancel there
just drops what it found.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from qgis.core import QgsTask

from ...core.packages.apply import apply_merge
from ...core.packages.merge import analyse_merge
from ...core.packages.merge_plan import MergePlan, MergeReport
from ...core.settlement_store import SettlementStore
from ...core.store.errors import (
    PackageCancelledError,
)
from ...core.store.users import resume_session
from ..cadastre.geometry_task import store_opener
from ..i18n import tr
from ..store.sources import SpatiaLiteSource
from ..store.tasks import note_failure
from ..submissions.import_task import Source


@dataclass
class MergeTarget:
    """The store shown in the project that a package is merged into, and who merges."""

    source: Source
    label: str
    #: the person signed in (None in a store without users, where anyone may merge)
    login: Optional[str]
    actor: str


@dataclass
class MergeOutcome:
    """What a task hands back; plain values, since QGIS deletes the task after finished()."""

    target: MergeTarget
    folder: str
    plan: Optional[MergePlan] = None
    report: Optional[MergeReport] = None
    cancelled: bool = False
    #: why the work did not run to its end, for the message bar and the dialog
    error: str = ""
    #: the FieldPackageError's kind ("other_store", "stale", ...), "permission", or ""
    kind: str = ""
    resolutions: dict[str, str] = field(default_factory=dict)
    policy: str = "ask"

    @property
    def package_name(self) -> str:
        return os.path.basename(os.path.normpath(self.folder))


class MergeTask(QgsTask):
    """``work(store)`` on the task's own connection, as the person signed in; the outcome
    goes to ``done`` on the main thread."""

    def __init__(self, description: str, outcome: MergeOutcome,
                 done: Callable[[MergeOutcome], None], read_only: bool = False) -> None:
        super().__init__(description, QgsTask.CanCancel)
        target = outcome.target
        # a PostGIS store's credentials come from QGIS's authentication manager, here
        self._open = store_opener(target.source, target.actor,
                                  read_only and isinstance(target.source, SpatiaLiteSource))
        self.outcome = outcome
        self.done = done

    def work(self, store: SettlementStore) -> None:
        raise NotImplementedError

    def run(self) -> bool:
        outcome = self.outcome
        try:
            self.step(0.02)
            with self._open() as store:
                if outcome.target.login:
                    resume_session(store, outcome.target.login)
                self.work(store)
            return True
        except Exception as error:  # shown in the message bar, not lost in a worker thread
            note_failure(outcome, error, PackageCancelledError)
        return False

    def step(self, fraction: float) -> None:
        """Between two steps that write nothing: raises when Cancel was pressed."""
        if self.isCanceled():
            raise PackageCancelledError(tr("Cancelled; nothing was merged."))
        self.move(fraction)

    def move(self, fraction: float, _message: str = "") -> None:
        """The bar only: for the core's progress after its transaction has committed."""
        self.setProgress(100.0 * max(0.0, min(fraction, 1.0)))

    def finished(self, result: bool) -> None:
        if not result and not self.outcome.error:
            self.outcome.cancelled = True  # cancelled before run() started
        self.done(self.outcome)


class AnalyseMergeTask(MergeTask):
    """analyse_merge: what the package changed, and where it conflicts with the store.

    The core's comparison takes no progress callback, so the bar moves and Cancel
    is honoured before and after it; it only reads, so stopping is always safe.
    """

    def __init__(self, target: MergeTarget, folder: str, done: Callable[[MergeOutcome], None],
                 options: Optional[dict[str, Any]] = None) -> None:
        outcome = MergeOutcome(target, os.path.abspath(folder))
        super().__init__(tr("Comparing the field package {0} with {1}").format(
            outcome.package_name, target.label), outcome, done, read_only=True)
        self.options = dict(options or {})

    def work(self, store: SettlementStore) -> None:
        self.step(0.1)
        plan = analyse_merge(store, self.outcome.folder, **self.options)
        self.step(1.0)
        self.outcome.plan = plan


class ApplyMergeTask(MergeTask):
    """apply_merge: the plan written in one transaction, with the conflicts resolved."""

    def __init__(self, target: MergeTarget, plan: MergePlan, resolutions: dict[str, str],
                 policy: str, done: Callable[[MergeOutcome], None]) -> None:
        outcome = MergeOutcome(target, plan.package.folder, plan=plan,
                               resolutions=dict(resolutions), policy=policy)
        super().__init__(tr("Merging the field package {0} into {1}").format(
            outcome.package_name, target.label), outcome, done)

    def work(self, store: SettlementStore) -> None:
        outcome = self.outcome
        outcome.report = apply_merge(store, outcome.plan, resolutions=outcome.resolutions,
                                     policy=outcome.policy, progress=self.move,
                                     cancelled=self.isCanceled)
        # Cancel is asked inside the transaction only: pressed after the commit, it is
        # too late, and the outcome says what was merged
