"""The storage interface every backend implements.

The domain code (parties, tenure, migrations...) speaks only to this
interface, with ``?`` placeholders and standard SQL, so that the PostGIS
backend planned for shared deployments can slot in without touching it.
The dialect-specific pieces (geometry columns, triggers, connection
set-up) are methods here.
"""
from __future__ import annotations

import abc
import contextlib
import re
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .errors import ClaimLockedError, MissingReferenceError, ShareExceededError, ValidationError

Row = Mapping[str, Any]

# Database rules (triggers) abort with "STDM:<code>:<field>: <message>", in
# every dialect, so that rule_error can turn them into core errors while a
# user editing with QGIS's own tools still reads a sentence.
RULE_MARKER = "STDM:"
RULE_MESSAGES = {
    "append_only": "The audit log is append-only: its entries cannot be changed or deleted.",
    "missing_reference": "A tenure record must point at an existing, current party and "
                         "parcel or structure.",
    "share_exceeded": "The tenure shares on this parcel or structure would add up to "
                      "more than 1.",
    "register_append_only": "This register is append-only: its entries cannot be changed "
                            "or deleted.",
    "claim_locked": "This claim is in adjudication: send it back to enumeration before "
                    "changing or deleting it.",
    "certificate_frozen": "An issued certificate cannot be deleted, and what it certifies "
                          "cannot be changed; revoke or supersede it instead.",
    "key_kept": "An office signing key cannot be deleted or changed, only retired, so that "
                "the certificates it signed can still be checked; its private part is only "
                "ever encrypted with a passphrase, and a retired key stays retired.",
    "state_without_event": "A claim's adjudication (its state, its public display) changes "
                           "only through the adjudication and certificate actions, each "
                           "with its event.",
    "claim_certified": "A valid certificate covers this claim: it cannot change until the "
                       "certificate is revoked.",
    "certificate_act": "A certificate's status and prints change only through reprint, revoke "
                       "or supersede, each with its event; how it was printed never changes.",
}


def rule_error(text: str) -> Exception | None:
    """The core error for a database rule's message, or None if it is not one."""
    found = re.search(r"STDM:(\w+):([^:]*):?([^\n]*)", text)
    if not found:
        return None
    code, field, detail = found.groups()
    detail = detail.strip()
    if code == "share_exceeded":
        return ShareExceededError(detail, table="social_tenure", field=field)
    if code == "missing_reference":
        return MissingReferenceError(f"{detail} ({field})", table="social_tenure", field=field)
    if code == "append_only":
        return ValidationError(detail, table="audit_log")
    if code in ("register_append_only", "certificate_frozen", "key_kept", "certificate_act"):
        return ValidationError(detail, table=field)
    if code in ("claim_locked", "claim_certified", "state_without_event"):
        return ClaimLockedError(detail, table="social_tenure", field=field)
    return ValidationError(detail)


class Backend(abc.ABC):
    """One open connection to a settlement store."""

    #: short name of the SQL dialect, e.g. "spatialite"
    dialect: str = ""
    #: who works through this connection (the store sets it); the audit log names them
    actor: str = "unknown"
    #: what the audit log says of a write made by another program
    OUTSIDE = "outside the plugin"
    #: where the store lives, for messages (a file path or a connection name)
    location: str = ""
    # SQL pieces that differ per dialect, used by migrations and repositories
    now_sql: str = ""  #: ISO 8601 UTC text with milliseconds and "Z"
    uuid_sql: str = ""  #: a random UUID (version 4) as text
    real_type: str = "REAL"
    blob_type: str = "BLOB"
    serial_pk: str = ""  #: an auto-numbered integer primary key
    json_list_sql: str = ""  #: "(...)" set of the strings in one JSON array parameter

    # --- plain SQL -------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement that returns no rows; returns the number of rows changed."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts."""

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else next(iter(row.values()))

    # --- transactions ----------------------------------------------------
    @abc.abstractmethod
    def begin(self) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def savepoint(self, name: str) -> None: ...

    @abc.abstractmethod
    def release(self, name: str) -> None: ...

    @abc.abstractmethod
    def rollback_to(self, name: str) -> None: ...

    @abc.abstractmethod
    def translate_error(self, error: Exception) -> Exception:
        """Turn a driver error raised by a database rule into a core error."""

    # --- schema pieces that differ per dialect ---------------------------
    @abc.abstractmethod
    def table_exists(self, table: str) -> bool: ...

    @abc.abstractmethod
    def columns(self, table: str) -> list[str]: ...

    @abc.abstractmethod
    def init_spatial_metadata(self) -> None: ...

    @abc.abstractmethod
    def srid_exists(self, srid: int) -> bool: ...

    @abc.abstractmethod
    def add_geometry_column(self, table: str, column: str, srid: int, geometry_type: str) -> None:
        """Add a 2D geometry column with a spatial index."""

    @abc.abstractmethod
    def geometry_param(self, srid: int, multi: bool = False) -> str:
        """SQL for a WKB parameter turned into a geometry of ``srid``."""

    @abc.abstractmethod
    def geometry_as_wkb(self, column: str) -> str:
        """SQL that reads a geometry column back as WKB."""

    @abc.abstractmethod
    def create_audit_triggers(self, table: str, columns: Sequence[str],
                              geometry_columns: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        """Hold these rows until the transaction ends (checks that read, then write)."""

    @abc.abstractmethod
    def lock_numbering(self, key: str) -> None:
        """Serialise code numbering for ``key`` until the transaction ends."""

    @abc.abstractmethod
    def create_schema_rules(self) -> None:
        """Database-side rules (share sums, references) that hold for every client."""

    @abc.abstractmethod
    def create_register_rules(self) -> None:
        """Rules of the adjudication and certificate registers (schema 5)."""

    @abc.abstractmethod
    def create_guard_rules(self) -> None:
        """Legal states change only through the plugin's acts (schema 8): a claim's state
        with its adjudication event, a certificate's status and prints with its event, and a
        claim a valid certificate covers not at all."""

    @abc.abstractmethod
    def create_key_rules(self) -> None:
        """Office keys at rest (schema 9): the key never changes, its private part only from
        the clear form to the encrypted one (or to nothing), a retired key stays retired."""

    @abc.abstractmethod
    def create_append_only_rules(self, tables: Sequence[str]) -> None:
        """Refuse every UPDATE and DELETE of these log tables."""

    @abc.abstractmethod
    def close(self) -> None: ...


@contextlib.contextmanager
def transaction(backend: Backend) -> Iterator[Backend]:
    """Run a block atomically: all of it is written or none of it.

    Nested use becomes a savepoint, so a helper that opens its own
    transaction can be called from inside a larger one.
    """
    depth = getattr(backend, "_stdm_tx_depth", 0)
    name = f"stdm_sp_{depth}"
    try:
        if depth == 0:
            backend.begin()
        else:
            backend.savepoint(name)
    except Exception as exc:
        translated = backend.translate_error(exc)
        if translated is not exc:
            raise translated from exc
        raise
    backend._stdm_tx_depth = depth + 1  # type: ignore[attr-defined]
    try:
        yield backend
    except BaseException as exc:
        backend._stdm_tx_depth = depth  # type: ignore[attr-defined]
        if depth == 0:
            backend.rollback()
        else:
            backend.rollback_to(name)
        translated = backend.translate_error(exc) if isinstance(exc, Exception) else exc
        if translated is not exc:
            raise translated from exc
        raise
    else:
        backend._stdm_tx_depth = depth  # type: ignore[attr-defined]
        try:
            if depth == 0:
                backend.commit()
            else:
                backend.release(name)
        except Exception as exc:  # e.g. the server ended the session: nothing was saved
            translated = backend.translate_error(exc)
            if translated is not exc:
                raise translated from exc
            raise
