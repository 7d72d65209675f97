"""Records as field packages see them: which tables travel, what is compared, fingerprints.

A record "changed" when what it says changed, not when someone merely
saved it: the fingerprint covers the columns that describe the party,
unit, claim or document, and leaves out the bookkeeping that every save
touches (who and when, the row version, provenance) and the lifespan,
which is what a deletion changes and is compared on its own. Geometry is
compared by its WKB, so a boundary counts as changed only when a vertex
moved.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator, Sequence

from ..store.backend import Backend
from ..store.schema import PROVENANCE_COLUMNS, VERSIONED_TABLES

#: the tables a team edits, parents before children
FIELD_TABLES = ("party", "spatial_unit", "social_tenure", "supporting_document")
#: columns that say who and when, not what: never compared
BOOKKEEPING = frozenset({"created_at", "created_by", "updated_at", "updated_by",
                         "begin_lifespan_version", "end_lifespan_version", "row_version",
                         "content", *PROVENANCE_COLUMNS})
#: what a package never decides, with the value a record added in the field starts with:
#: a claim's adjudication (its state, the display it was shown in) changes only through the
#: adjudication and certificate actions, and only an import says which submission brought
#: a record. Who and when (BOOKKEEPING) come from the merge itself.
PROTECTED_COLUMNS: dict[str, dict[str, Any]] = {
    "party": {"submission_id": None},
    "spatial_unit": {"submission_id": None},
    "social_tenure": {"adjudication_state": "enumerated", "public_display_id": None,
                      "submission_id": None},
    "supporting_document": {"submission_id": None},
}
#: how many ids go into one IN (...) query
BATCH = 2000

Row = dict[str, Any]


def geometry_columns(table: str) -> tuple[str, ...]:
    return VERSIONED_TABLES.get(table, ())


def compared_columns(db: Backend, table: str) -> list[str]:
    """The columns that say what a record is, sorted so both sides agree on the order."""
    return sorted(c for c in db.columns(table) if c not in BOOKKEEPING)


def select_list(db: Backend, table: str, columns: Sequence[str]) -> str:
    geometry = geometry_columns(table)
    return ", ".join(f"{db.geometry_as_wkb(c)} AS {c}" if c in geometry else c for c in columns)


def plain(value: Any) -> Any:
    """A value as Python compares it on every backend (bytes for blobs)."""
    return bytes(value) if isinstance(value, memoryview) else value


def read_rows(db: Backend, table: str, columns: Sequence[str], ids: Iterable[str] | None = None,
              where: str = "", params: Sequence[Any] = ()) -> dict[str, Row]:
    """Rows of ``table`` by id (``ids`` in batches, or every row matching ``where``)."""
    select = select_list(db, table, ["id", *[c for c in columns if c != "id"]])
    found: dict[str, Row] = {}

    def take(rows: list[dict]) -> None:
        for row in rows:
            found[row["id"]] = {k: plain(v) for k, v in row.items()}

    if ids is None:
        clause = f" WHERE {where}" if where else ""
        take(db.query(f"SELECT {select} FROM {table}{clause}", params))
        return found
    for chunk in chunks(list(ids), BATCH):
        extra = f" AND ({where})" if where else ""
        take(db.query(f"SELECT {select} FROM {table} WHERE id IN {db.json_list_sql}{extra}",
                      (json.dumps(chunk), *params)))
    return found


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def jsonable(value: Any) -> Any:
    """A value as JSON holds it: blobs (geometry) as hex."""
    return value.hex() if isinstance(value, (bytes, bytearray)) else value


def fingerprint(row: Row, columns: Sequence[str]) -> str:
    """SHA-256 of what the record says (``columns``), the same on every backend."""
    text = json.dumps([[c, jsonable(row.get(c))] for c in columns], separators=(",", ":"),
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_json(row: Row, columns: Sequence[str]) -> str:
    return json.dumps({c: jsonable(row.get(c)) for c in columns}, ensure_ascii=False,
                      default=str, sort_keys=True)


def from_json(text: str, table: str) -> Row:
    """A row written by ``to_json``, with its geometry back as bytes."""
    row = json.loads(text)
    for column in geometry_columns(table):
        if isinstance(row.get(column), str):
            row[column] = bytes.fromhex(row[column])
    return row


def is_live(row: Row | None) -> bool:
    return row is not None and row.get("end_lifespan_version") is None
