"""Merging a returned field package: what changed on each side since the cut, and conflicts.

``analyse_merge`` reads the package and the store and says, per record,
whether it was added, changed or deleted in the package, and where the
store changed the same record too. It writes nothing; ``apply_merge``
(``apply.py``) writes the plan in one transaction once every
conflict has a resolution.

A record changed on one side is told from the register of the cut: the
store's fingerprint of each record at the cut and the package's (they
differ where personal data was left out of the package). A record both
sides changed to the same thing is no conflict; one both sides changed
differently is. After a merge the register holds the merged state, so a
package merged twice changes nothing the second time, and a package
sent back again after more work is merged against what it brought last
time.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any

from ..settlement_store import SettlementStore
from ..store.errors import FieldPackageError, NewerStoreError, NotAStoreError, StoreError
from ..store.store import INFO_TABLE
from .conflicts import find_duplicate_persons, find_overlaps
from .field_package import PACKAGE_KEY, FieldPackage, read_manifest
from .merge_plan import (
    ADDED,
    CHANGED,
    DELETED,
    DELETED_IN_PACKAGE,
    DELETED_IN_STORE,
    EDITED_BOTH,
    SEEN_DELETED,
    Change,
    Conflict,
    MergePlan,
)
from .package_files import check_package_folder
from .rows import (
    FIELD_TABLES,
    PROTECTED_COLUMNS,
    Row,
    compared_columns,
    fingerprint,
    from_json,
    is_live,
    read_rows,
)


def analyse_merge(store: SettlementStore, folder: str | os.PathLike, *,
                  overlap_tolerance_m2: float = 1.0, name_similarity: float = 0.85) -> MergePlan:
    """Read the package in ``folder`` against ``store``; refuses a package it cannot trust."""
    try:
        check_package_folder(os.path.abspath(os.fspath(folder)))
        manifest = read_manifest(folder)
        package = open_package(manifest)
    except FieldPackageError as exc:
        raise _nothing_merged(exc) from None
    try:
        plan = MergePlan(manifest)
        try:
            _check_against_store(store, package, manifest)
        except FieldPackageError as exc:
            raise _nothing_merged(exc) from None
        plan.store_audit_id = int(store.db.scalar("SELECT coalesce(max(id), 0) FROM audit_log"))
        plan.base = _base(store, package, manifest.id)
        plan.merge_count = int(store.db.scalar(
            "SELECT merge_count FROM field_package WHERE id = ?", (manifest.id,)) or 0)
        for table in FIELD_TABLES:
            _compare_table(store, package, table, plan)
        _refuse_protected(plan)
    except sqlite3.DatabaseError as exc:
        raise FieldPackageError(f"{manifest.store_file} is damaged and cannot be read ({exc}); "
                                "nothing was merged. Ask the team for the package again.",
                                kind="corrupt", path=manifest.store_file) from None
    finally:
        package.close()
    plan.conflicts += find_overlaps(store, plan, overlap_tolerance_m2)
    plan.conflicts += find_duplicate_persons(store, plan, name_similarity)
    return plan


#: why a package may not set a protected column
PROTECTED_BECAUSE = {
    "adjudication_state": "a claim's adjudication changes only through the office's "
                          "adjudication and certificate actions, never through a package",
    "public_display_id": "a claim is put on public display only by the office's adjudication "
                         "actions, never through a package",
    "submission_id": "only an import of submissions says which submission brought a record",
}


def _refuse_protected(plan: MergePlan) -> None:
    """Refuse a package that decides what only the office's own actions may decide."""
    for change in plan.changes:
        protected = PROTECTED_COLUMNS.get(change.table, {})
        if change.action == ADDED and change.row is not None:
            wrong = [c for c, start in protected.items() if change.row.get(c) != start]
        elif change.action == CHANGED:
            wrong = [c for c in change.columns if c in protected]
        else:
            continue
        if wrong:
            _protected(plan, change.table, change.row or {}, wrong[0])
    for conflict in plan.conflicts:
        protected = PROTECTED_COLUMNS.get(conflict.table, {})
        package_row, store_row = conflict.package_row or {}, conflict.store_row or {}
        wrong = [c for c in conflict.columns
                 if c in protected and package_row.get(c) != store_row.get(c)]
        if conflict.package_row is not None and wrong:
            _protected(plan, conflict.table, package_row, wrong[0])


def _protected(plan: MergePlan, table: str, row: Row, column: str) -> None:
    name = row.get("code") or row.get("id") or "a record"
    raise FieldPackageError(
        f"The package {plan.package.folder} sets {column} of {table} {name} to "
        f"{row.get(column)!r}: {PROTECTED_BECAUSE[column]}. Nothing was merged.",
        kind="protected", path=plan.package.folder)


def _nothing_merged(error: FieldPackageError) -> FieldPackageError:
    """Every refusal says that the store was left as it was."""
    text = str(error)
    if "nothing was merged" in text.lower():
        return error
    return FieldPackageError(f"{text.rstrip('.')}. Nothing was merged.", kind=error.kind,
                             path=error.path)


def open_package(manifest: FieldPackage) -> SettlementStore:
    """The package's own store, checked whole before anything is read from it."""
    path = manifest.store_file
    if not os.path.isfile(path):
        raise FieldPackageError(f"The package {manifest.folder} has no {os.path.basename(path)}; "
                                "nothing was merged.", kind="corrupt", path=path)
    try:
        package = SettlementStore.open(path, upgrade=False)
    except NewerStoreError as exc:
        raise FieldPackageError(f"The package {manifest.folder} was made by a newer plugin "
                                f"(schema {exc.found}); update the plugin to merge it.",
                                kind="newer_schema", path=path) from None
    except (NotAStoreError, sqlite3.DatabaseError) as exc:
        raise FieldPackageError(f"{path} is damaged or not a package store ({exc}); nothing "
                                "was merged.", kind="corrupt", path=path) from None
    except StoreError as exc:
        raise FieldPackageError(f"{path} cannot be opened: {exc}", kind="corrupt",
                                path=path) from None
    try:
        problems = [r for r in package.db.query("PRAGMA quick_check")
                    if list(r.values())[0] != "ok"]
        if problems:
            raise FieldPackageError(
                f"{path} is damaged ({len(problems)} problems, first: "
                f"{list(problems[0].values())[0]}); nothing was merged.", kind="corrupt",
                path=path)
        key = package.db.scalar(f"SELECT value FROM {INFO_TABLE} WHERE key = ?", (PACKAGE_KEY,))
    except sqlite3.DatabaseError as exc:
        package.close()
        raise FieldPackageError(f"{path} is damaged ({exc}); nothing was merged.",
                                kind="corrupt", path=path) from None
    except BaseException:
        package.close()
        raise
    if key != manifest.id:
        package.close()
        raise FieldPackageError(f"{path} does not belong to the package {manifest.id} its "
                                f"{os.path.basename(manifest.folder)}/package.json describes; "
                                "nothing was merged.", kind="not_a_package", path=path)
    return package


def _check_against_store(store: SettlementStore, package: SettlementStore,
                         manifest: FieldPackage) -> None:
    where = manifest.folder
    if package.schema_version < store.schema_version:
        raise FieldPackageError(
            f"The package {where} was made by an older plugin (schema "
            f"{package.schema_version}; this store is at {store.schema_version}). Cut a new "
            "package, or open this one once in QGIS with the current plugin (it is upgraded "
            "then) and merge it again.", kind="older_schema", path=where)
    if package.schema_version > store.schema_version:
        raise FieldPackageError(f"The package {where} is newer (schema "
                                f"{package.schema_version}) than this store; update it first.",
                                kind="newer_schema", path=where)
    if manifest.store_id != store.store_id:
        raise FieldPackageError(
            f"The package {where} was cut from another store ({manifest.store_id}), not from "
            f"this one ({store.store_id}); nothing was merged.", kind="other_store", path=where)
    row = store.db.query_one("SELECT id FROM field_package WHERE id = ?", (manifest.id,))
    newest = int(store.db.scalar("SELECT coalesce(max(id), 0) FROM audit_log"))
    if row is None or newest < manifest.base_audit_id:
        raise FieldPackageError(
            f"The package {where} was cut on {manifest.made_at} from a state this store no "
            "longer has (was it restored from an older backup?); nothing was merged. Merge it "
            "into the store it was cut from, or cut a new package.", kind="unknown_base",
            path=where)


def _base(store: SettlementStore, package: SettlementStore, package_id: str
          ) -> dict[tuple[str, str], dict[str, Any]]:
    """Per record, the fingerprints to compare with, and the package's values to diff with."""
    base = {(r["table_name"], r["record_id"]): r for r in store.db.query(
        "SELECT table_name, record_id, store_hash, package_hash, package_values "
        "FROM field_package_base WHERE package_id = ?", (package_id,))}
    for r in package.db.query("SELECT table_name, record_id, package_values FROM "
                              "field_package_base WHERE package_id = ?", (package_id,)):
        entry = base.get((r["table_name"], r["record_id"]))
        if entry is not None and not entry["package_values"]:
            entry["package_values"] = r["package_values"]
    return base


def enumerator_of(row: Row | None, manifest: FieldPackage) -> str | None:
    """Who made a package's change: the record's editor, else the package's only enumerator."""
    for column in ("updated_by", "created_by"):
        who = (row or {}).get(column)
        if who and who not in ("unknown", "root"):
            return str(who)
    return manifest.enumerators[0] if len(manifest.enumerators) == 1 else None


def _compare_table(store: SettlementStore, package: SettlementStore, table: str,
                   plan: MergePlan) -> None:
    columns = store.db.columns(table)
    compared = compared_columns(store.db, table)
    mine = read_rows(package.db, table, columns)
    if table == "supporting_document":
        for record_id, row in read_rows(package.db, table, ["content"]).items():
            mine[record_id]["content"] = row["content"]
    plan.package_rows[table] = mine
    based = {rid for (t, rid) in plan.base if t == table}
    ids = sorted(set(mine) | based)
    theirs = read_rows(store.db, table, columns, ids)
    for record_id in ids:
        _compare_record(plan, table, record_id, mine.get(record_id), theirs.get(record_id),
                        plan.base.get((table, record_id)), compared)


def _compare_record(plan: MergePlan, table: str, record_id: str, pkg: Row | None,
                    current: Row | None, base: dict | None, compared: list[str]) -> None:
    who = enumerator_of(pkg, plan.package)
    if base is None:
        if not is_live(pkg):
            return  # added and deleted again in the field, or never live
        if current is None:
            plan.changes.append(Change(table, record_id, ADDED, who, pkg))
        elif fingerprint(current, compared) == fingerprint(pkg, compared):
            plan.unchanged += 1
        else:
            plan.conflicts.append(Conflict(EDITED_BOTH, table, record_id, current, pkg, who,
                                           columns=tuple(compared)))
        return
    in_package = is_live(pkg)
    in_store = is_live(current)
    package_changed = in_package and fingerprint(pkg, compared) != base["package_hash"]
    if in_package and in_store and not package_changed:
        plan.unchanged += 1  # the common case: the store's changes, if any, stand
        return
    store_changed = in_store and fingerprint(current, compared) != base["store_hash"]
    changed = _changed_columns(pkg, base, table, compared) if package_changed else ()
    if not in_package and (not in_store or base["package_hash"] == SEEN_DELETED):
        plan.unchanged += 1  # deleted on both sides, or the deletion was decided before
    elif not in_package:
        if store_changed:
            plan.conflicts.append(Conflict(DELETED_IN_PACKAGE, table, record_id, current, pkg,
                                           who))
        else:
            plan.changes.append(Change(table, record_id, DELETED, who, pkg))
    elif not in_store:
        if package_changed and current is not None:
            plan.conflicts.append(Conflict(DELETED_IN_STORE, table, record_id, current, pkg, who,
                                           columns=changed))
        else:
            plan.unchanged += 1
    elif not package_changed or all(current.get(c) == pkg.get(c) for c in changed):
        plan.unchanged += 1  # nothing new from the field, or both sides did the same
    elif store_changed:
        plan.conflicts.append(Conflict(EDITED_BOTH, table, record_id, current, pkg, who,
                                       columns=changed))
    else:
        plan.changes.append(Change(table, record_id, CHANGED, who, pkg, changed))


def _changed_columns(pkg: Row, base: dict, table: str, compared: list[str]) -> tuple[str, ...]:
    """The columns the package changed since the cut (or since its last merge)."""
    if not base.get("package_values"):
        return tuple(compared)
    before = from_json(base["package_values"], table)
    return tuple(c for c in compared if pkg.get(c) != before.get(c))
