"""Reading and writing versioned records: one place for the SQL they share.

Every write stamps who and when and starts a new lifespan version; the
audit triggers keep the old values. Records are retired (end of lifespan),
never deleted, so the history of a parcel or a claim stays readable.
"""
from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

from .errors import (
    ConcurrentEditError,
    InvalidGeometryError,
    RecordNotFoundError,
    ValidationError,
)
from .model import RECORD_FIELDS, Record

if TYPE_CHECKING:
    from .store import Store


class RecordRepository:
    table: ClassVar[str]
    record_class: ClassVar[type[Record]]
    #: geometry column -> stored as multi-geometry
    geometry_columns: ClassVar[dict[str, bool]] = {}
    #: columns the store computes; not taken from user input on update
    computed_columns: ClassVar[tuple[str, ...]] = ()
    #: columns too big to read with every record
    unselected_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, store: "Store") -> None:
        self.store = store
        self.db = store.db

    # --- reading -----------------------------------------------------------
    def _select_list(self) -> str:
        names = ["id", *self.record_class.data_fields(), *RECORD_FIELDS]
        names = [n for n in dict.fromkeys(names) if n not in self.unselected_columns]
        return ", ".join(
            f"{self.db.geometry_as_wkb(n)} AS {n}" if n in self.geometry_columns else n
            for n in names)

    def _to_record(self, row: dict[str, Any]) -> Record:
        from shapely import wkb

        for name in self.geometry_columns:
            if row.get(name) is not None:
                row[name] = wkb.loads(bytes(row[name]))
        return self.record_class.from_row(row)

    def get(self, record_id: str, *, include_retired: bool = False) -> Record:
        where = "" if include_retired else " AND end_lifespan_version IS NULL"
        row = self.db.query_one(
            f"SELECT {self._select_list()} FROM {self.table} WHERE id = ?{where}", (record_id,))
        if row is None:
            raise RecordNotFoundError(self.table, record_id)
        return self._to_record(row)

    def exists(self, record_id: str | None) -> bool:
        if not record_id:
            return False
        return self.db.scalar(
            f"SELECT count(*) FROM {self.table} WHERE id = ? AND end_lifespan_version IS NULL",
            (record_id,)) > 0

    def missing_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` have no current record (one query for a whole batch)."""
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return set()
        found = self.db.query(
            f"SELECT id FROM {self.table} WHERE end_lifespan_version IS NULL "
            f"AND id IN {self.db.json_list_sql}", (json_list(wanted),))
        return set(wanted) - {r["id"] for r in found}

    def find(self, where: str = "", params: Sequence[Any] = (), *,
             include_retired: bool = False, order_by: str = "created_at, id") -> list[Record]:
        """Current records matching a fixed SQL condition with ``?`` parameters."""
        clauses = [] if include_retired else ["end_lifespan_version IS NULL"]
        if where:
            clauses.append(f"({where})")
        sql = f"SELECT {self._select_list()} FROM {self.table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [self._to_record(r) for r in self.db.query(f"{sql} ORDER BY {order_by}", params)]

    def count(self) -> int:
        return self.db.scalar(
            f"SELECT count(*) FROM {self.table} WHERE end_lifespan_version IS NULL")

    # --- writing -----------------------------------------------------------
    def validate(self, record: Record) -> None:
        """Domain rules for one record; subclasses raise ValidationError subclasses."""

    def _row_values(self, record: Record, names: Sequence[str]) -> list[Any]:
        values = []
        for name in names:
            value = getattr(record, name)
            if name in self.geometry_columns and value is not None:
                value = value.wkb
            values.append(value)
        return values

    def _insert_sql(self, names: Sequence[str]) -> str:
        srid = self.store.srid
        placeholders = [
            self.db.geometry_param(srid, self.geometry_columns[n]) if n in self.geometry_columns
            else "?" for n in names]
        return (f"INSERT INTO {self.table} ({', '.join(names)}) "
                f"VALUES ({', '.join(placeholders)})")

    def _stamp_new(self, record: Record, now: str) -> None:
        record.id = record.id or str(uuid.uuid4())
        actor = self.store.actor
        record.created_at = record.updated_at = record.begin_lifespan_version = now
        record.created_by = record.updated_by = actor
        record.end_lifespan_version = None
        record.row_version = 1

    def _insert_many(self, records: Sequence[Record]) -> None:
        names = ["id", *self.record_class.data_fields(), *RECORD_FIELDS]
        self.db.executemany(self._insert_sql(names),
                            (self._row_values(r, names) for r in records))

    def add(self, record: Record) -> Record:
        """Validate and insert one record; returns it with id and stamps."""
        return self.add_many([record])[0]

    def add_many(self, records: Sequence[Record]) -> list[Record]:
        """Validate every record first, then insert them all in one transaction."""
        from .store import utc_now

        records = list(records)
        with self.store.transaction():
            self._prepare_batch(records)
            now = utc_now()
            for record in records:
                self._stamp_new(record, now)
            self._insert_many(records)
        return records

    def _prepare_batch(self, records: list[Record]) -> None:
        """Validate a batch and fill computed fields; may use one query per batch."""
        for record in records:
            self.validate(record)

    def update(self, record_id: str, expected_version: int | None = None,
               **changes: Any) -> Record:
        """Change fields of a current record; the old version stays in the history.

        ``expected_version`` is the row_version the caller read: if someone
        saved the record since, ConcurrentEditError says who and when, and
        nothing is written. Without it, the version read here is checked, so
        a save racing this one is still caught.
        """
        from .store import utc_now

        allowed = set(self.record_class.data_fields()) - set(self.computed_columns)
        unknown = set(changes) - allowed
        if unknown:
            raise ValidationError(f"{self.table} has no editable field(s) {sorted(unknown)}",
                                  table=self.table, field=sorted(unknown)[0])
        with self.store.transaction():
            record = self.get(record_id)
            read_version = record.row_version
            if expected_version is not None and expected_version != read_version:
                raise ConcurrentEditError(self.table, record_id, record.updated_by,
                                          record.updated_at)
            for name, value in changes.items():
                setattr(record, name, value)
            self._prepare_update(record)
            now = utc_now()
            record.updated_at = record.begin_lifespan_version = now
            record.updated_by = self.store.actor
            record.row_version = (read_version or 0) + 1
            names = [n for n in self.record_class.data_fields()
                     if n not in self.unselected_columns]
            names += ["updated_at", "updated_by", "begin_lifespan_version", "row_version"]
            assignments = ", ".join(
                f"{n} = {self.db.geometry_param(self.store.srid, self.geometry_columns[n])}"
                if n in self.geometry_columns else f"{n} = ?" for n in names)
            changed = self.db.execute(
                f"UPDATE {self.table} SET {assignments} WHERE id = ? AND row_version = ?",
                [*self._row_values(record, names), record_id, read_version])
            if changed != 1:
                latest = self.get(record_id, include_retired=True)
                raise ConcurrentEditError(self.table, record_id, latest.updated_by,
                                          latest.updated_at)
        return record

    def _prepare_update(self, record: Record) -> None:
        self._prepare_batch([record])

    def retire(self, record_id: str) -> None:
        """End the record's lifespan: it stops being current but is kept."""
        from .store import utc_now

        with self.store.transaction():
            self.get(record_id)
            self._before_retire(record_id)
            now = utc_now()
            self.db.execute(
                f"UPDATE {self.table} SET end_lifespan_version = ?, updated_at = ?, "
                "updated_by = ?, row_version = row_version + 1 WHERE id = ?",
                (now, now, self.store.actor, record_id))

    def _before_retire(self, record_id: str) -> None:
        """Refuse or cascade before a retirement (e.g. a parcel with current tenure)."""


def refuse_while_current_tenure(repo: RecordRepository, field: str, record_id: str) -> None:
    """A party or spatial unit with current tenure records cannot be retired."""
    count = repo.db.scalar(
        f"SELECT count(*) FROM social_tenure WHERE {field} = ? "
        "AND end_lifespan_version IS NULL", (record_id,))
    if count:
        raise ValidationError(
            f"{repo.table} {record_id} still has {count} current tenure record(s); end them "
            "first", table=repo.table, field="id", record_id=record_id)


def json_list(values: Iterable[Any]) -> str:
    """A batch of ids as one JSON parameter, read in SQL with ``db.json_list_sql``."""
    return json.dumps(list(values))


def require(condition: bool, message: str, *, table: str, field: str, value: Any = None,
            record_id: str | None = None, error: type[ValidationError] = ValidationError) -> None:
    if not condition:
        raise error(message, table=table, field=field, value=value, record_id=record_id)


def check_geometry(geometry: Any, allowed: tuple[str, ...], *, table: str, field: str,
                   record_id: str | None) -> None:
    if geometry is None:
        return
    kind = getattr(geometry, "geom_type", None)
    require(kind in allowed, f"{table}.{field} must be a {' or '.join(allowed)}, not {kind}",
            table=table, field=field, value=kind, record_id=record_id,
            error=InvalidGeometryError)
    require(not geometry.is_empty, f"{table}.{field} is empty", table=table, field=field,
            record_id=record_id, error=InvalidGeometryError)
    if not geometry.is_valid:
        from shapely.validation import explain_validity

        raise InvalidGeometryError(
            f"{table}.{field} is not a valid geometry: {explain_validity(geometry)}",
            table=table, field=field, value=geometry.wkt[:80], record_id=record_id)
