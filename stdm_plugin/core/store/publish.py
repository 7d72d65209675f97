"""Copy a whole store to another store: SpatiaLite to PostGIS ("publish") and back
(a field copy). Ids, record keeping and history travel with the records, and
every table is counted on both sides before the copy is committed.
"""
from __future__ import annotations

from typing import Callable, Iterator

from .errors import StoreError
from .schema import VERSIONED_TABLES
from .store import INFO_TABLE, Store

# parents before children, so references resolve as rows arrive
RECORD_TABLES = ("settlement", "party", "spatial_unit", "public_display", "social_tenure",
                 "supporting_document", "objection", "certificate")
#: registers that records refer to, copied first, with the order to read them in
REGISTER_TABLES = {"submission": "imported_at, id", "app_user": "created_at, id",
                   "office_key": "created_at, id", "field_package": "created_at, id"}
#: append-only logs with numbered rows: copied in order, numbered again by the target
LOG_TABLES = ("adjudication_event", "certificate_event", "spatial_unit_lineage",
              "merge_conflict", "store_event")
#: the field package registers that point at records, with the order to read them in
PACKAGE_TABLES = {"field_package_base": "package_id, table_name, record_id",
                  "package_merge": "merged_at, id"}
CODE_LIST_KEYS = {"lookup": ("category", "code"), "lookup_label": ("category", "code", "lang")}
BATCH = 1000
Progress = Callable[[str, int], None]


def copy_store(source: Store, target: Store,
               progress: Progress | None = None) -> dict[str, int]:
    """Copy every record of ``source`` into the new, empty ``target``; all or nothing.

    Returns the number of rows copied per table.
    """
    _check_target(source, target)
    copied: dict[str, int] = {}
    with target.transaction():
        # history first, so the copy's own insert entries come after it
        copied["audit_log"] = _copy_audit(source, target)
        for table, key in CODE_LIST_KEYS.items():
            copied[table] = copy_missing_codes(source, target, table, key)
        for table, order in REGISTER_TABLES.items():
            copied[table] = _copy_table(source, target, table, progress, order)
        for table in RECORD_TABLES:
            copied[table] = _copy_table(source, target, table, progress)
        for table, order in PACKAGE_TABLES.items():
            copied[table] = _copy_table(source, target, table, progress, order)
        for table in LOG_TABLES:
            copied[table] = _copy_table(source, target, table, progress, "id", skip=("id",))
        _check_counts(source, target)
        target.db.execute(f"INSERT INTO {INFO_TABLE} (key, value) VALUES ('copied_from', ?)",
                          (source.store_id,))
    return copied


def _check_target(source: Store, target: Store) -> None:
    if source.srid != target.srid:
        raise StoreError(f"The target store is in EPSG:{target.srid}, the source in "
                         f"EPSG:{source.srid}; create the target in the same CRS.")
    if source.schema_version != target.schema_version:
        raise StoreError("Both stores must be at the same schema version; open the older "
                         "one with this plugin first to upgrade it.")
    for table in (*REGISTER_TABLES, *RECORD_TABLES, *PACKAGE_TABLES, *LOG_TABLES):
        if target.db.scalar(f"SELECT count(*) FROM {table}"):
            raise StoreError(f"The target store already holds records ({table}); copy into "
                             "a new, empty store.")


def _columns(source: Store, target: Store, table: str,
             skip: tuple[str, ...] = ()) -> list[str]:
    wanted = set(target.db.columns(table)) - set(skip)
    return [c for c in source.db.columns(table) if c in wanted]


def _rows(store: Store, table: str, columns: list[str],
          geometry: tuple[str, ...], order: str) -> Iterator[list]:
    select = ", ".join(f"{store.db.geometry_as_wkb(c)} AS {c}" if c in geometry else c
                       for c in columns)
    offset = 0
    while True:
        rows = store.db.query(f"SELECT {select} FROM {table} ORDER BY {order} "
                              f"LIMIT {BATCH} OFFSET {offset}")
        if not rows:
            return
        for row in rows:
            yield [bytes(row[c]) if isinstance(row[c], memoryview) else row[c] for c in columns]
        offset += BATCH


def _copy_table(source: Store, target: Store, table: str,
                progress: Progress | None, order: str = "created_at, id",
                skip: tuple[str, ...] = ()) -> int:
    geometry = VERSIONED_TABLES.get(table, ())
    columns = _columns(source, target, table, skip)
    values = ", ".join(target.db.geometry_param(target.srid, multi=(c == "boundary"))
                       if c in geometry else "?" for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    batch: list[list] = []
    count = 0
    for row in _rows(source, table, columns, geometry, order):
        batch.append(row)
        if len(batch) == BATCH:
            target.db.executemany(sql, batch)
            count += len(batch)
            batch = []
            if progress:
                progress(table, count)
    if batch:
        target.db.executemany(sql, batch)
        count += len(batch)
    if progress:
        progress(table, count)
    return count


def copy_missing_codes(source: Store, target: Store, table: str,
                  key: tuple[str, ...]) -> int:
    """Code lists: the target was seeded at creation; add what the source added."""
    columns = [c for c in _columns(source, target, table) if c != "id"]
    present = {tuple(r[k] for k in key) for r in target.db.query(
        f"SELECT {', '.join(key)} FROM {table}")}
    missing = [[r[c] for c in columns] for r in source.db.query(
        f"SELECT {', '.join(columns)} FROM {table} ORDER BY created_at")
        if tuple(r[k] for k in key) not in present]
    if missing:
        target.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                              f"({', '.join('?' for _ in columns)})", missing)
    return len(missing)


def _copy_audit(source: Store, target: Store) -> int:
    columns = ["table_name", "record_id", "action", "changed_at", "changed_by", "old_values",
               "new_values"]
    rows = [[r[c] for c in columns] for r in source.db.query(
        f"SELECT {', '.join(columns)} FROM audit_log ORDER BY id")]
    target.db.executemany(f"INSERT INTO audit_log ({', '.join(columns)}) VALUES "
                          f"({', '.join('?' for _ in columns)})", rows)
    return len(rows)


def _check_counts(source: Store, target: Store) -> None:
    for table in (*REGISTER_TABLES, *RECORD_TABLES, *PACKAGE_TABLES, *LOG_TABLES,
                  *CODE_LIST_KEYS):
        mine = source.db.scalar(f"SELECT count(*) FROM {table}")
        theirs = target.db.scalar(f"SELECT count(*) FROM {table}")
        if table in CODE_LIST_KEYS and theirs >= mine:
            continue
        if mine != theirs:
            raise StoreError(f"Copy check failed: {table} has {mine} rows in the source and "
                             f"{theirs} in the target; nothing was copied.")
