"""Cutting a field package: part of the store, copied for one team to edit offline.

A package is a folder. It holds a settlement store of its own (the same
schema, so QGIS and QField edit it with the same rules and the same
history triggers), with the parcels in and around an area, the
structures on them, the claims on those, the households and people who
hold them, their documents, all code lists and settlements, and a copy
of the enumeration forms; ``package.json`` says who it was made for and
from which store. The QGIS project beside it is written by the QGIS
layer (``qgis/packages/field_project.py``).

The store keeps a register of what it cut: per record, a fingerprint of
the record as the store had it and as the package got it (personal data
may be left out or pseudonymised on the way). That is the base a
returned package is merged against (``merge.py``).

The folder is built under a temporary name and renamed when complete,
and the register is written in one transaction, so a failed or
cancelled cut leaves neither a package nor a register entry.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import shapely

from ..safety.personal_data import PersonalDataFilter
from ..settlement_store import SettlementStore
from ..store.errors import FieldPackageError, PackageCancelledError
from ..store.schema import refresh_audit_triggers
from ..store.store import INFO_TABLE, utc_now
from ..store.users import require_permission
from .cut_area import margin, package_area, records_in, unit_documents_only
from .rows import (
    BATCH,
    FIELD_TABLES,
    chunks,
    compared_columns,
    fingerprint,
    geometry_columns,
    read_rows,
    to_json,
)

MANIFEST = "package.json"
PACKAGE_STORE = "field_store.sqlite"
FORMS_FOLDER = "forms"
#: the stdm_store_info key that makes a store a field package
PACKAGE_KEY = "field_package_id"
#: party documents (ID scans, signed forms) travel only when personal data is included
PERSONAL_DOCUMENT_FIELDS = ("party_id", "social_tenure_id")
#: what the records of a package may point at besides each other, settlements and code
#: lists: copied as they are, never compared or merged back
REFERENCED_TABLES = ("public_display", "submission")

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


@dataclass
class PackageRequest:
    """What to cut: an area (a polygon in the store's CRS, or blocks) for a team."""

    team: str
    area_wkt: str | None = None
    blocks: Sequence[str] = ()
    enumerators: Sequence[str] = ()
    device: str | None = None
    #: parcels this close to the area come too, so the team sees its neighbours
    margin_m: float = 20.0
    personal_data: str = "include"
    #: the pseudonym key (only for ``personal_data="pseudonymise"``)
    key: bytes | str | None = None


@dataclass
class FieldPackage:
    """A package's manifest (``package.json``), as made and as read back."""

    id: str
    store_id: str
    team: str
    enumerators: list[str]
    device: str | None
    made_at: str
    made_by: str
    area_wkt: str
    margin_m: float
    personal_data: str
    base_audit_id: int
    schema_version: int
    srid: int
    counts: dict[str, int] = field(default_factory=dict)
    missing_documents: list[str] = field(default_factory=list)
    folder: str = ""

    @property
    def store_file(self) -> str:
        return os.path.join(self.folder, PACKAGE_STORE)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("folder")
        return json.dumps(data, indent=2, ensure_ascii=False)


def cut_package(store: SettlementStore, folder: str | os.PathLike, request: PackageRequest, *,
                forms_dir: str | None = None, progress: Progress | None = None,
                cancelled: Cancelled | None = None) -> FieldPackage:
    """Write the package for ``request`` into the new folder ``folder``; all or nothing."""
    require_permission(store, "cut_field_package")
    folder = os.path.abspath(os.fspath(folder))
    _check_target(folder)
    team = (request.team or "").strip()
    if not team:
        raise FieldPackageError("Name the team the package is for.", kind="area")
    report = progress or (lambda fraction, message: None)
    stop = cancelled or (lambda: False)
    partial = f"{folder}.partial-{uuid.uuid4().hex[:8]}"
    os.makedirs(partial)
    try:
        with store.transaction():
            area, pieces = package_area(store, request.area_wkt, request.blocks)
            report(0.05, "Finding the records in the area")
            ids = records_in(store, shapely.buffer(pieces, margin(store, request.margin_m)))
            manifest = FieldPackage(
                id=str(uuid.uuid4()), store_id=store.store_id, team=team,
                enumerators=[e.strip() for e in request.enumerators if e.strip()],
                device=(request.device or "").strip() or None, made_at=utc_now(),
                made_by=store.actor, area_wkt=shapely.to_wkt(area, rounding_precision=3),
                margin_m=float(request.margin_m),
                personal_data=request.personal_data,
                base_audit_id=int(store.db.scalar("SELECT coalesce(max(id), 0) FROM audit_log")),
                schema_version=store.schema_version, srid=store.srid, folder=partial)
            filter_ = PersonalDataFilter(request.personal_data, request.key)
            if request.personal_data != "include":
                ids["supporting_document"] = unit_documents_only(store, ids["supporting_document"])
            base = _write_package_store(store, manifest, ids, filter_, report, stop)
            _register(store, manifest, base)
            _copy_forms(forms_dir, partial)
            with open(os.path.join(partial, MANIFEST), "w", encoding="utf-8") as handle:
                handle.write(manifest.to_json())
            if stop():
                raise PackageCancelledError("Cutting the package was cancelled.")
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    manifest.folder = folder
    report(1.0, "Package written")
    return manifest


def read_manifest(folder: str | os.PathLike) -> FieldPackage:
    """The manifest of the package in ``folder`` (for showing; merging checks the store too)."""
    folder = os.path.abspath(os.fspath(folder))
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        manifest = FieldPackage(**data)
    except FileNotFoundError:
        raise FieldPackageError(f"{folder} is not a field package: it has no {MANIFEST}.",
                                kind="not_a_package", path=folder) from None
    except (ValueError, TypeError) as exc:
        raise FieldPackageError(f"{path} is damaged and cannot be read: {exc}",
                                kind="corrupt", path=path) from None
    manifest.folder = folder
    return manifest


# --- what goes in -------------------------------------------------------------
def _check_target(folder: str) -> None:
    if os.path.exists(folder) and (not os.path.isdir(folder) or os.listdir(folder)):
        raise FieldPackageError(f"{folder} already exists and is not empty; choose a new "
                                "folder for the package.", kind="target_exists", path=folder)
    parent = os.path.dirname(folder)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise FieldPackageError(f"Cannot write in the folder {parent}.", kind="target_exists",
                                path=folder)
    if os.path.isdir(folder):
        os.rmdir(folder)  # empty: replaced by the finished package


# --- writing it ---------------------------------------------------------------
def _write_package_store(store: SettlementStore, manifest: FieldPackage,
                         ids: dict[str, list[str]], filter_: PersonalDataFilter,
                         report: Progress, stop: Cancelled) -> list[tuple]:
    """Create the package's own store and copy the records; returns the base rows."""
    target = SettlementStore.create(os.path.join(manifest.folder, PACKAGE_STORE), store.srid,
                                    actor=store.actor)
    base: list[tuple] = []
    try:
        with target.transaction():
            db = target.db
            # the copy is the package's starting point, not an edit: no history entries
            for table in ("lookup", "lookup_label", "settlement", "field_package",
                          *REFERENCED_TABLES, *FIELD_TABLES):
                db.execute(f"DROP TRIGGER IF EXISTS audit_{table}_insert")
            # references are checked once everything is in, naming any record left dangling
            db.execute("PRAGMA defer_foreign_keys = ON")
            _copy_code_lists(store, target)
            _copy_all(store, target, "settlement")
            _copy_referenced(store, target, ids)
            total = sum(len(v) for v in ids.values()) or 1
            done = 0
            for table in FIELD_TABLES:
                if stop():
                    raise PackageCancelledError("Cutting the package was cancelled.")
                base += _copy_records(store, target, table, ids[table], manifest, filter_)
                done += len(ids[table])
                manifest.counts[table] = len(ids[table])
                report(0.1 + 0.8 * done / total, f"Copied {done} of {total} records")
            _copy_events(store, target, ids["social_tenure"])
            db.execute(f"INSERT INTO {INFO_TABLE} (key, value) VALUES (?, ?)",
                       (PACKAGE_KEY, manifest.id))
            _insert_package_row(target, manifest)
            refresh_audit_triggers(db)
            db.executemany("INSERT INTO field_package_base (package_id, table_name, record_id, "
                           "store_hash, package_hash, package_values) VALUES (?, ?, ?, ?, ?, ?)",
                           base)
            _check_references(target)
        _copy_document_files(store, target, ids["supporting_document"], manifest)
    finally:
        target.close()
    return base


def _copy_referenced(store: SettlementStore, target: SettlementStore,
                     ids: dict[str, list[str]]) -> None:
    """The records the package's records point at outside the tables a team edits (the
    public display a claim was shown in, the submission a record came from), as they are."""
    wanted: dict[str, set[str]] = {}
    for table in FIELD_TABLES:
        links = [(r["from"], r["table"]) for r in target.db.query(
            f"PRAGMA foreign_key_list({table})") if r["table"] in REFERENCED_TABLES]
        if not links:
            continue
        rows = read_rows(store.db, table, [c for c, _parent in links], ids[table])
        for column, parent in links:
            wanted.setdefault(parent, set()).update(
                r[column] for r in rows.values() if r[column])
    for parent, parent_ids in sorted(wanted.items()):
        columns = target.db.columns(parent)
        rows = read_rows(store.db, parent, columns, sorted(parent_ids))
        insert_rows(target, parent, columns, list(rows.values()))


def _copy_events(store: SettlementStore, target: SettlementStore, claim_ids: list[str]) -> None:
    """The adjudication events of the package's claims: their states stay traceable there."""
    columns = target.db.columns("adjudication_event")
    rows = []
    for chunk in chunks(claim_ids, BATCH):
        rows += store.db.query(f"SELECT {', '.join(columns)} FROM adjudication_event WHERE "
                               f"social_tenure_id IN {store.db.json_list_sql} ORDER BY id",
                               (json.dumps(chunk),))
    insert_rows(target, "adjudication_event", columns, rows)


def _check_references(target: SettlementStore) -> None:
    """Refuse a package whose records point at records it does not hold, naming the first."""
    dangling = target.db.query("PRAGMA foreign_key_check")
    if not dangling:
        return
    first = dangling[0]
    link = target.db.query(f"PRAGMA foreign_key_list({first['table']})")
    column = next((r["from"] for r in link if r["id"] == first["fkid"]), "?")
    row = target.db.query_one(f"SELECT id, {column} AS ref FROM {first['table']} "
                              "WHERE rowid = ?", (first["rowid"],)) or {}
    raise FieldPackageError(
        f"The package would hold {len(dangling)} record(s) pointing at records left out of "
        f"it; the first: {first['table']} {row.get('id', first['rowid'])} points at "
        f"{first['parent']} {row.get('ref')} ({column}). Nothing was written.", kind="rule")


def _copy_code_lists(store: SettlementStore, target: SettlementStore) -> None:
    from ..store.publish import CODE_LIST_KEYS, copy_missing_codes

    for table, key in CODE_LIST_KEYS.items():
        copy_missing_codes(store, target, table, key)


def _copy_all(store: SettlementStore, target: SettlementStore, table: str) -> None:
    columns = target.db.columns(table)
    rows = read_rows(store.db, table, columns, where="end_lifespan_version IS NULL")
    insert_rows(target, table, columns, list(rows.values()))


def insert_rows(target: SettlementStore, table: str, columns: Sequence[str],
                rows: Sequence[dict]) -> None:
    """Insert whole rows (geometry as WKB) with their ids and record keeping."""
    geometry = geometry_columns(table)
    values = ", ".join(target.db.geometry_param(target.srid, multi=(c == "boundary"))
                       if c in geometry else "?" for c in columns)
    target.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})",
                          [[r.get(c) for c in columns] for r in rows])


def _copy_records(store: SettlementStore, target: SettlementStore, table: str,
                  ids: list[str], manifest: FieldPackage,
                  filter_: PersonalDataFilter) -> list[tuple]:
    columns = target.db.columns(table)
    compared = compared_columns(target.db, table)
    rows = read_rows(store.db, table, columns, ids)
    if table == "supporting_document":
        contents = read_rows(store.db, table, ["content"], ids)
        for record_id, row in rows.items():
            row["content"] = contents[record_id]["content"]
    base, written = [], []
    for record_id in ids:
        row = rows[record_id]
        out = filter_.apply(table, row) if table != "supporting_document" else row
        written.append(out)
        base.append((manifest.id, table, record_id, fingerprint(row, compared),
                     fingerprint(out, compared), to_json(out, compared)))
    insert_rows(target, table, columns, written)
    return base


def _insert_package_row(target: SettlementStore, manifest: FieldPackage) -> None:
    target.db.execute(
        "INSERT INTO field_package (id, store_id, team, enumerators, device, area_wkt, "
        "margin_m, personal_data, base_audit_id, schema_version, record_count, created_at, "
        "created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (manifest.id, manifest.store_id, manifest.team, json.dumps(manifest.enumerators),
         manifest.device, manifest.area_wkt, manifest.margin_m, manifest.personal_data,
         manifest.base_audit_id, manifest.schema_version, sum(manifest.counts.values()),
         manifest.made_at, manifest.made_by, manifest.made_at, manifest.made_by))


def _register(store: SettlementStore, manifest: FieldPackage, base: list[tuple]) -> None:
    """The store's own record of the cut: the package and each record's fingerprints."""
    _insert_package_row(store, manifest)
    store.db.executemany(
        "INSERT INTO field_package_base (package_id, table_name, record_id, store_hash, "
        "package_hash) VALUES (?, ?, ?, ?, ?)", [row[:5] for row in base])


def _copy_document_files(store: SettlementStore, target: SettlementStore, ids: list[str],
                         manifest: FieldPackage) -> None:
    rows = read_rows(store.db, "supporting_document", ["storage", "relative_path"], ids)
    for record_id, row in rows.items():
        if row["storage"] != "folder":
            continue
        relative = row["relative_path"]
        source = os.path.join(store.documents_dir or "", relative)
        if not os.path.isfile(source):
            manifest.missing_documents.append(record_id)
            continue
        destination = os.path.join(target.documents_dir or "", relative)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copyfile(source, destination)


def _copy_forms(forms_dir: str | None, folder: str) -> None:
    if forms_dir and os.path.isdir(forms_dir):
        shutil.copytree(forms_dir, os.path.join(folder, FORMS_FOLDER),
                        ignore=shutil.ignore_patterns("__pycache__"))
