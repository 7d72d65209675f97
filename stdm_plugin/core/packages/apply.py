"""Writing a merge plan into the store: one transaction, provenance, register and report.

Every conflict needs a resolution first, given one by one (``resolutions``
by ``Conflict.key``) or for all the rest by a ``policy``:

- ``mine`` keeps the store's version (a new parcel or person of the
  package that duplicates one in the store is not added; what pointed at
  it in the package points at the store's one instead);
- ``theirs`` takes the package's version (the store's duplicate parcel or
  person is retired and what pointed at it points at the package's);
- ``both`` keeps both: an edited record's package version is added as a
  new record, duplicates are both kept, and a record one side deleted and
  the other edited is kept with its edits.

Each resolved conflict is written to ``merge_conflict`` with both
versions; every write goes through the audit triggers, so the history of
a record holds the version it had before the merge too.
"""
from __future__ import annotations

import os
from typing import Callable

from ..settlement_store import SettlementStore
from ..store.errors import FieldPackageError, PackageCancelledError
from ..store.users import require_permission
from .merge_plan import (
    CHOICES,
    CONFLICT_TITLES,
    POLICIES,
    Conflict,
    MergePlan,
    MergeReport,
)
from .plan_writer import PlanWriter

Progress = Callable[[float, str], None]


def choices_for(conflict: Conflict) -> tuple[str, ...]:
    """The resolutions that mean something for this conflict (all three, today)."""
    return CHOICES


def apply_merge(store: SettlementStore, plan: MergePlan, *,
                resolutions: dict[str, str] | None = None, policy: str = "ask",
                progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None) -> MergeReport:
    """Write ``plan`` into ``store`` in one transaction; all of it or none of it."""
    require_permission(store, "merge_field_package")
    chosen = _resolve(plan, resolutions or {}, policy)
    manifest = plan.package
    report = MergeReport(manifest.id, manifest.team, unchanged=plan.unchanged)
    if plan.is_empty:
        report.already_merged = plan.merge_count
        return report
    step = progress or (lambda fraction, message: None)
    stop = cancelled or (lambda: False)
    writer = PlanWriter(store, plan, report)
    copied: list[str] = []
    try:
        with store.transaction():
            _check_not_stale(store, plan)
            writer.prepare(chosen)
            step(0.1, "Writing the package's records")
            writer.write(copied, stop)
            step(0.8, "Recording the merge")
            writer.record(chosen, policy)
            if stop():
                raise PackageCancelledError("The merge was cancelled; nothing was merged.")
    except BaseException:
        for path in copied:
            if os.path.exists(path):
                os.remove(path)
        raise
    step(1.0, "Merged")
    return report


def _check_not_stale(store: SettlementStore, plan: MergePlan) -> None:
    """The store must be as it was when the plan was made (nobody saved in between)."""
    newest = int(store.db.scalar("SELECT coalesce(max(id), 0) FROM audit_log"))
    if newest != plan.store_audit_id:
        raise FieldPackageError(
            f"The store changed since {plan.package.folder} was compared with it; nothing was "
            "merged. Compare it again and merge.", kind="stale", path=plan.package.folder)


def _resolve(plan: MergePlan, resolutions: dict[str, str], policy: str) -> dict[str, str]:
    if policy not in POLICIES:
        raise FieldPackageError(f"The policy must be one of {', '.join(POLICIES)}, not "
                                f"{policy!r}.", kind="conflict_choice")
    chosen, missing = {}, []
    for conflict in plan.conflicts:
        choice = resolutions.get(conflict.key) or (policy if policy != "ask" else None)
        if choice is None:
            missing.append(conflict)
        elif choice not in choices_for(conflict):
            raise FieldPackageError(f"{choice!r} is not a resolution for {conflict.label} "
                                    f"({CONFLICT_TITLES[conflict.kind]}); choose one of "
                                    f"{', '.join(choices_for(conflict))}.", kind="conflict_choice")
        else:
            chosen[conflict.key] = choice
    if missing:
        first = missing[0]
        raise FieldPackageError(
            f"{len(missing)} conflicts have no resolution, e.g. {first.label} "
            f"({CONFLICT_TITLES[first.kind]}); resolve them or choose a policy. Nothing was "
            "merged.", kind="unresolved", path=plan.package.folder)
    return chosen


def merge_package(store: SettlementStore, folder: str, *, policy: str = "ask",
                  resolutions: dict[str, str] | None = None, **options) -> MergeReport:
    """Analyse and merge in one call (scripts and Processing); see ``apply_merge``."""
    from .merge import analyse_merge

    plan = analyse_merge(store, folder, **options)
    return apply_merge(store, plan, resolutions=resolutions, policy=policy)
