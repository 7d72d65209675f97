"""Writing a merge plan into the store, record by record, inside apply_merge's transaction.

``PlanWriter`` applies each conflict's resolution, inserts and updates the
package's records with their provenance (renumbering new parcel codes that
the store has taken meanwhile, copying documents), then records the merge,
its conflicts and the new base of every record it touched. It never opens
or ends a transaction: apply.py does.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any, Callable

from ..settlement_store import SettlementStore
from ..store.errors import FieldPackageError, PackageCancelledError, StdmError
from ..store.schema import PROVENANCE_COLUMNS
from ..store.store import utc_now
from .field_package import insert_rows
from .merge_plan import (
    ADDED,
    CHANGED,
    DELETED,
    SEEN_DELETED,
    Conflict,
    MergePlan,
    MergeReport,
)
from .package_files import document_path, inside
from .rows import (
    BOOKKEEPING,
    FIELD_TABLES,
    PROTECTED_COLUMNS,
    Row,
    compared_columns,
    fingerprint,
    geometry_columns,
    is_live,
    read_rows,
    to_json,
)

#: the columns that point at another record, and the table they point into
REFERENCES = {"party_id": "party", "group_party_id": "party", "spatial_unit_id": "spatial_unit",
              "parcel_id": "spatial_unit", "social_tenure_id": "social_tenure"}
#: which store rows point at a record of each table, to follow a retired duplicate
POINTING = {"party": (("social_tenure", "party_id"), ("supporting_document", "party_id"),
                      ("party", "group_party_id")),
            "spatial_unit": (("social_tenure", "spatial_unit_id"),
                             ("supporting_document", "spatial_unit_id"),
                             ("spatial_unit", "parcel_id"))}
KIND_LETTER = {"parcel": "P", "structure": "S"}


class PlanWriter:
    """The writes of one merge, gathered first, then made in dependency order."""

    def __init__(self, store: SettlementStore, plan: MergePlan, report: MergeReport) -> None:
        self.store = store
        self.db = store.db
        self.plan = plan
        self.report = report
        self.now = utc_now()
        self.inserts: dict[str, list[tuple[Row, str | None, str]]] = {t: [] for t in FIELD_TABLES}
        self.updates: list[tuple[str, str, tuple[str, ...], Row, str | None, str]] = []
        self.retires: list[tuple[str, str, str | None]] = []
        #: package record id -> the store record that stands for it
        self.redirect: dict[str, str] = {}
        #: store record id -> package record id that replaces it (store rows re-pointed)
        self.replaced: list[tuple[str, str, str]] = []
        self.dropped: set[str] = set()
        self._column_cache: dict[str, list[str]] = {}
        #: the team and device as the store registered them at the cut, not as the
        #: package's own manifest (which the field could edit) says
        self.registered = self.db.query_one(
            "SELECT team, device FROM field_package WHERE id = ?", (plan.package.id,)) or {}

    # --- gathering ---------------------------------------------------------
    def prepare(self, chosen: dict[str, str]) -> None:
        for change in self.plan.changes:
            if change.action == ADDED:
                self.inserts[change.table].append((change.row, change.enumerator, ADDED))
            elif change.action == CHANGED:
                self.updates.append((change.table, change.record_id, change.columns, change.row,
                                     change.enumerator, CHANGED))
            else:
                self.retires.append((change.table, change.record_id, change.enumerator))
            self.report.counts[(change.table, change.action)] += 1
            self.report.by_enumerator[(change.enumerator, change.table, change.action)] += 1
        for conflict in self.plan.conflicts:
            choice = chosen[conflict.key]
            self.report.resolved.append((conflict, choice))
            getattr(self, f"_{conflict.kind}")(conflict, choice)

    def _edited_both(self, conflict: Conflict, choice: str) -> None:
        if choice == "theirs":
            self._count(conflict, CHANGED)
            self.updates.append((conflict.table, conflict.record_id, conflict.columns,
                                 conflict.package_row, conflict.enumerator, CHANGED))
        elif choice == "both":
            self._count(conflict, ADDED)
            copy = dict(conflict.package_row or {})
            copy["id"] = str(uuid.uuid4())
            self.inserts[conflict.table].append((copy, conflict.enumerator, "copy"))

    def _deleted_in_store(self, conflict: Conflict, choice: str) -> None:
        if choice in ("theirs", "both"):  # keep the record, with the package's edits
            self._count(conflict, CHANGED)
            columns = tuple(compared_columns(self.db, conflict.table))
            self.updates.append((conflict.table, conflict.record_id, columns,
                                 conflict.package_row, conflict.enumerator, "restored"))

    def _deleted_in_package(self, conflict: Conflict, choice: str) -> None:
        if choice == "theirs":
            self._count(conflict, DELETED)
            self.retires.append((conflict.table, conflict.record_id, conflict.enumerator))

    def _overlapping_parcels(self, conflict: Conflict, choice: str) -> None:
        self._duplicate(conflict, choice)

    def _duplicate_person(self, conflict: Conflict, choice: str) -> None:
        self._duplicate(conflict, choice)

    def _duplicate(self, conflict: Conflict, choice: str) -> None:
        """A package record that stands for one already in the store (``other_id``)."""
        mine, other = conflict.record_id, conflict.other_id or ""
        if choice == "mine" and mine not in self.dropped:
            self.dropped.add(mine)
            self.redirect[mine] = other
            self._count(conflict, ADDED, -1)
        elif choice == "theirs":
            if mine in self.dropped:
                raise FieldPackageError(f"{conflict.label} cannot be both kept and dropped: "
                                        "choose the same resolution for all of its conflicts.",
                                        kind="conflict_choice")
            self.replaced.append((conflict.table, other, mine))
            self.retires.append((conflict.table, other, conflict.enumerator))
            self._count(conflict, DELETED, table_only=True)

    def _count(self, conflict: Conflict, action: str, step: int = 1,
               table_only: bool = False) -> None:
        self.report.counts[(conflict.table, action)] += step
        if not table_only:
            self.report.by_enumerator[(conflict.enumerator, conflict.table, action)] += step

    # --- writing -----------------------------------------------------------
    def write(self, copied: list[str], stop: Callable[[], bool]) -> None:
        for table in FIELD_TABLES:
            rows = [(self._pointed(row), who) for row, who, _ in self.inserts[table]
                    if row["id"] not in self.dropped]
            if table == "spatial_unit":
                rows = self._renumbered(rows)
            if table == "supporting_document":
                rows = [(self._document(row, copied), who) for row, who in rows]
            for row, who in rows:
                self._guard(table, row, self._insert, table, row, who)
            if stop():
                raise PackageCancelledError("The merge was cancelled; nothing was merged.")
        for table, record_id, columns, row, who, _ in self.updates:
            self._guard(table, row, self._update, table, record_id, columns, row, who)
        for table, old, new in self.replaced:
            for pointing_table, column in POINTING[table]:
                self._guard(pointing_table, {"id": old}, self.db.execute,
                            f"UPDATE {pointing_table} SET {column} = ?, updated_at = ?, "
                            f"updated_by = ? WHERE {column} = ? AND end_lifespan_version IS NULL",
                            (new, self.now, self.store.actor, old))
        order = {t: i for i, t in enumerate(reversed(FIELD_TABLES))}
        for table, record_id, _who in sorted(self.retires, key=lambda r: order[r[0]]):
            self._guard(table, {"id": record_id}, self.db.execute,
                        f"UPDATE {table} SET end_lifespan_version = ?, updated_at = ?, "
                        "updated_by = ? WHERE id = ? AND end_lifespan_version IS NULL",
                        (self.now, self.now, self.store.actor, record_id))

    def _guard(self, table: str, row: Row | None, write: Callable[..., Any], *args: Any) -> None:
        """Run one write; a database rule it breaks is refused with the record named."""
        try:
            write(*args)
        except StdmError as exc:
            raise self._refused(table, row, exc) from None
        except Exception as exc:  # a driver error the backend turns into a core error
            translated = self.db.translate_error(exc)
            if translated is exc:
                raise
            raise self._refused(table, row, translated) from None

    def _refused(self, table: str, row: Row | None, exc: Exception) -> FieldPackageError:
        name = (row or {}).get("code") or (row or {}).get("id") or "a record"
        return FieldPackageError(
            f"Merging {self.plan.package.folder} would break a rule of the store at {table} "
            f"{name}: {exc} Nothing was merged; resolve the conflict differently or correct "
            "the package.", kind="rule", path=self.plan.package.folder)

    def _pointed(self, row: Row) -> Row:
        out = dict(row)
        for column in REFERENCES:
            if out.get(column) in self.redirect:
                out[column] = self.redirect[out[column]]
        return out

    def _provenance(self, row: Row, who: str | None) -> dict[str, Any]:
        manifest = self.plan.package
        return dict(zip(PROVENANCE_COLUMNS, (
            self.registered.get("team", manifest.team),
            self.registered.get("device", manifest.device), who, manifest.id,
            row.get("updated_at") or row.get("created_at") or self.now)))

    def _insert(self, table: str, row: Row, who: str | None) -> None:
        """One row at a time, so that a rule it breaks names it.

        A record new to the store starts its life now, written by the person who
        merges (the enumerator is its provenance), and as a record added in the field
        does: a claim unadjudicated, nothing brought by an import.
        """
        insert_rows(self.store, table, self._columns(table), [{
            **row, **PROTECTED_COLUMNS.get(table, {}), **self._provenance(row, who),
            "created_at": self.now, "created_by": self.store.actor, "updated_at": self.now,
            "updated_by": self.store.actor, "begin_lifespan_version": self.now,
            "end_lifespan_version": None, "row_version": 1}])

    def _columns(self, table: str) -> list[str]:
        if table not in self._column_cache:
            self._column_cache[table] = self.db.columns(table)
        return self._column_cache[table]

    def _update(self, table: str, record_id: str, columns: tuple[str, ...], row: Row,
                who: str | None) -> None:
        row = self._pointed(row)
        geometry = geometry_columns(table)
        protected = PROTECTED_COLUMNS.get(table, {})
        values = {c: row.get(c) for c in columns if c != "id" and c not in protected
                  and c not in BOOKKEEPING}
        values.update(self._provenance(row, who))
        values.update(updated_at=self.now, updated_by=self.store.actor,
                      end_lifespan_version=None)
        sets = ", ".join(
            f"{c} = {self.db.geometry_param(self.store.srid, multi=(c == 'boundary'))}"
            if c in geometry else f"{c} = ?" for c in values)
        self.db.execute(f"UPDATE {table} SET {sets}, row_version = row_version + 1 "
                        "WHERE id = ?", (*values.values(), record_id))

    def _renumbered(self, rows: list[tuple[Row, str | None]]) -> list[tuple[Row, str | None]]:
        """New units keep the code the team gave them unless the store has it already."""
        if not rows:
            return rows
        taken = {r["code"] for r in self.db.query(
            f"SELECT code FROM spatial_unit WHERE code IN {self.db.json_list_sql}",
            (json.dumps([row.get("code") for row, _ in rows]),))}
        next_seq: dict[tuple[str, str], int] = {}
        out = []
        for row, who in rows:
            old_code = str(row.get("code"))
            key = (row["settlement_id"], row["kind"])
            clash = row.get("code") in taken or self.db.scalar(
                "SELECT count(*) FROM spatial_unit WHERE settlement_id = ? AND kind = ? "
                "AND seq = ?", (*key, row.get("seq"))) or row.get("seq") is None
            if clash:
                if key not in next_seq:
                    self.db.lock_numbering(f"{key[0]}:{key[1]}")
                    next_seq[key] = 1 + int(self.db.scalar(
                        "SELECT coalesce(max(seq), 0) FROM spatial_unit WHERE settlement_id = ? "
                        "AND kind = ?", key) or 0)
                prefix = self.db.scalar("SELECT code FROM settlement WHERE id = ?", (key[0],))
                row = {**row, "seq": next_seq[key],
                       "code": f"{prefix}-{KIND_LETTER[key[1]]}{next_seq[key]:05d}"}
                self.report.renumbered[old_code] = row["code"]
                next_seq[key] += 1
            taken.add(row["code"])
            out.append((row, who))
        return out

    def _document(self, row: Row, copied: list[str]) -> Row:
        """A new document's file, checked against its SHA-256 and brought into the store.

        The name must be the plugin's own (its digest), and both the file read in the
        package and the file written in the store are checked by their real paths.
        """
        if row.get("storage") != "folder":
            return row
        folder = self.plan.package.store_file + ".documents"
        relative = document_path(row)
        source = inside(folder, relative)
        if not os.path.isfile(source):  # a real path: links are resolved and refused above
            raise FieldPackageError(f"The package's document {row.get('file_name')} "
                                    f"({relative}) is missing from {folder}; nothing was merged.",
                                    kind="document", path=source)
        with open(source, "rb") as handle:
            content = handle.read()
        if hashlib.sha256(content).hexdigest() != row.get("sha256"):
            raise FieldPackageError(f"The package's document {source} does not match its "
                                    "SHA-256 (changed or damaged); nothing was merged.",
                                    kind="document", path=source)
        if not self.store.documents_dir:  # a server store keeps documents in the database
            return {**row, "storage": "embedded", "content": content, "relative_path": None}
        target = inside(self.store.documents_dir, relative)
        if not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            inside(self.store.documents_dir, relative)  # no link made meanwhile
            with open(target, "xb") as handle:
                handle.write(content)
            copied.append(target)
        return row

    # --- the register --------------------------------------------------------
    def record(self, chosen: dict[str, str], policy: str) -> None:
        manifest = self.plan.package
        merge_id = str(uuid.uuid4())
        self.report.merge_id = merge_id
        summary = {"counts": {f"{t}:{a}": n for (t, a), n in self.report.counts.items()},
                   "conflicts": len(self.plan.conflicts), "renumbered": self.report.renumbered}
        self.db.execute("INSERT INTO package_merge (id, package_id, merged_at, merged_by, policy, "
                        "summary) VALUES (?, ?, ?, ?, ?, ?)",
                        (merge_id, manifest.id, self.now, self.store.actor, policy,
                         json.dumps(summary, sort_keys=True)))
        self.db.executemany(
            "INSERT INTO merge_conflict (merge_id, package_id, kind, table_name, record_id, "
            "other_record_id, store_values, package_values, resolution, resolved_by, "
            "resolved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(merge_id, manifest.id, c.kind, c.table, c.record_id, c.other_id,
              _as_json(c.store_row), _as_json(c.package_row), chosen[c.key], self.store.actor,
              self.now) for c in self.plan.conflicts])
        self.db.execute("UPDATE field_package SET status = 'merged', merge_count = "
                        "merge_count + 1, last_merged_at = ?, last_merged_by = ?, "
                        "updated_at = ?, updated_by = ? WHERE id = ?",
                        (self.now, self.store.actor, self.now, self.store.actor, manifest.id))
        self._new_base()

    def _new_base(self) -> None:
        """The merged state becomes the base the package is compared with next time.

        Only the records this merge wrote, or decided about, get a new base: for
        the others the package and the store still say what they said at the cut.
        """
        touched: dict[str, set[str]] = {t: set() for t in FIELD_TABLES}
        for change in self.plan.changes:
            touched[change.table].add(change.record_id)
        for conflict in self.plan.conflicts:
            touched[conflict.table].update(i for i in (conflict.record_id, conflict.other_id) if i)
        rows = []
        for table in FIELD_TABLES:
            package_rows = self.plan.package_rows.get(table, {})
            ids = sorted(touched[table])
            compared = compared_columns(self.db, table)
            current = read_rows(self.db, table, compared, ids)
            for record_id in ids:
                old = self.plan.base.get((table, record_id), {})
                pkg = package_rows.get(record_id)
                if pkg is None and not old:
                    continue  # the store's side of a conflict: not the package's record
                in_store = current.get(record_id)
                rows.append((
                    self.plan.package.id, table, record_id,
                    fingerprint(in_store, compared) if in_store else old.get("store_hash", ""),
                    fingerprint(pkg, compared) if is_live(pkg) else SEEN_DELETED,
                    to_json(pkg, compared) if pkg else old.get("package_values")))
        self.db.executemany(
            "INSERT INTO field_package_base (package_id, table_name, record_id, store_hash, "
            "package_hash, package_values) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (package_id, table_name, record_id) DO UPDATE SET "
            "store_hash = excluded.store_hash, package_hash = excluded.package_hash, "
            "package_values = excluded.package_values", rows)


def _as_json(row: Row | None) -> str | None:
    if row is None:
        return None
    return to_json(row, [c for c in row if c != "content"])
