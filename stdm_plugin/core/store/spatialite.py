"""The SpatiaLite backend: a settlement store in one local file.

SpatiaLite is the embedded default, so that a field laptop needs no
server. Connections run in WAL mode with foreign keys on and a busy
timeout, so that QGIS's own provider and the plugin can share the file.
"""
from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterable, Sequence

from .backend import RULE_MARKER, RULE_MESSAGES, Backend, rule_error
from .errors import MissingReferenceError, ReadOnlyStoreError, StoreLockedError

SPATIALITE_MODULES = ("mod_spatialite", "mod_spatialite.so", "libspatialite")
BUSY_TIMEOUT_MS = 5000
NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"


def load_spatialite(connection: sqlite3.Connection) -> None:
    connection.enable_load_extension(True)
    last_error: Exception | None = None
    for name in SPATIALITE_MODULES:
        try:
            connection.load_extension(name)
            break
        except sqlite3.OperationalError as exc:
            last_error = exc
    else:
        raise RuntimeError(
            "The SpatiaLite extension (mod_spatialite) could not be loaded; "
            "install libsqlite3-mod-spatialite. Last error: %s" % last_error
        )
    connection.enable_load_extension(False)


class SpatiaLiteBackend(Backend):
    """SQLite takes one writer at a time (BEGIN IMMEDIATE), so the row and
    numbering locks of the interface are already held by the transaction."""

    dialect = "spatialite"
    now_sql = NOW_SQL
    uuid_sql = (
        "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
        "substr(lower(hex(randomblob(2))), 2) || '-' || "
        "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) "
        "|| '-' || lower(hex(randomblob(6)))")
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
    json_list_sql = "(SELECT value FROM json_each(?))"

    def __init__(self, path: str, *, read_only: bool = False, timeout_ms: int = BUSY_TIMEOUT_MS):
        self.location = os.fspath(path)
        self.read_only = read_only
        uri = "file:%s?mode=%s" % (_uri_path(self.location), "ro" if read_only else "rwc")
        self._con = sqlite3.connect(uri, uri=True, isolation_level=None,
                                    timeout=timeout_ms / 1000.0, check_same_thread=False)
        self._con.row_factory = sqlite3.Row
        load_spatialite(self._con)
        self._con.execute("PRAGMA foreign_keys = ON")
        self._con.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")

    # --- connection set-up ----------------------------------------------
    def enable_wal(self) -> None:
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.execute("PRAGMA synchronous = NORMAL")

    @property
    def connection(self) -> sqlite3.Connection:
        return self._con

    # --- plain SQL -------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._con.execute(sql, tuple(params)).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._con.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._con.execute(sql, tuple(params)).fetchall()]

    # --- transactions ----------------------------------------------------
    def begin(self) -> None:
        # IMMEDIATE takes the write lock now, so a second writer waits (busy
        # timeout) or fails here, before any work is done.
        self._con.execute("BEGIN IMMEDIATE")
        if self._has_session_table():  # who writes, seen by the audit triggers only
            self._con.execute("INSERT OR REPLACE INTO stdm_session (id, actor) VALUES (1, ?)",
                              (self.actor,))

    def commit(self) -> None:
        if self._has_session_table():
            self._con.execute("DELETE FROM stdm_session")  # never committed
        self._con.execute("COMMIT")

    def _has_session_table(self) -> bool:
        if not getattr(self, "_session_table", False):
            self._session_table = self.table_exists("stdm_session") and not self.read_only
        return self._session_table

    def rollback(self) -> None:
        if self._con.in_transaction:
            self._con.execute("ROLLBACK")

    def savepoint(self, name: str) -> None:
        self._con.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self._con.execute(f"RELEASE {name}")

    def rollback_to(self, name: str) -> None:
        self._con.execute(f"ROLLBACK TO {name}")
        self._con.execute(f"RELEASE {name}")

    def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the only write lock."""

    def lock_numbering(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the only write lock."""

    def translate_error(self, error: Exception) -> Exception:
        text = str(error)
        if isinstance(error, sqlite3.OperationalError):
            if "database is locked" in text or "database is busy" in text:
                return StoreLockedError(
                    f"The store {self.location} is locked by another program "
                    "(another QGIS or plugin window is saving). Try again when it has finished.",
                    self.location)
            if "readonly" in text or "read-only" in text:
                return ReadOnlyStoreError(
                    f"The store {self.location} is read-only: check the file's permissions.",
                    self.location)
        if isinstance(error, sqlite3.IntegrityError):
            rule = rule_error(text)
            if rule is not None:
                return rule
            if "FOREIGN KEY" in text:
                return MissingReferenceError(f"A record points at a missing record ({text})")
        return error

    # --- schema ----------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        row = self._con.execute(
            "SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?",
            (table,)).fetchone()
        return row is not None

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self._con.execute(f'PRAGMA table_info("{table}")')]

    def init_spatial_metadata(self) -> None:
        if not self.table_exists("spatial_ref_sys"):
            self._con.execute("SELECT InitSpatialMetadata(0)")

    def srid_exists(self, srid: int) -> bool:
        return self._con.execute(
            "SELECT 1 FROM spatial_ref_sys WHERE srid = ?", (srid,)).fetchone() is not None

    def add_geometry_column(self, table: str, column: str, srid: int, geometry_type: str) -> None:
        ok = self._con.execute("SELECT AddGeometryColumn(?, ?, ?, ?, 'XY')",
                               (table, column, srid, geometry_type)).fetchone()[0]
        if not ok:
            raise RuntimeError(f"SpatiaLite refused geometry column {table}.{column}")
        self._con.execute("SELECT CreateSpatialIndex(?, ?)", (table, column))

    def geometry_param(self, srid: int, multi: bool = False) -> str:
        inner = f"GeomFromWKB(?, {int(srid)})"
        return f"CastToMulti({inner})" if multi else inner

    def geometry_as_wkb(self, column: str) -> str:
        return f"AsBinary({column})"

    def create_audit_triggers(self, table: str, columns: Sequence[str],
                              geometry_columns: Sequence[str]) -> None:
        """Write every insert, update and delete of ``table`` to audit_log.

        Triggers (rather than core code) so that edits made with QGIS's own
        tools, or in QField, are recorded the same way.
        """
        for action in ("insert", "update", "delete"):
            self._con.execute(f"DROP TRIGGER IF EXISTS audit_{table}_{action}")
        def values(alias: str) -> str:
            parts = []
            for col in columns:
                expr = f"hex({alias}.{col})" if col in geometry_columns else f"{alias}.{col}"
                parts.append(f"'{col}', {expr}")
            return "json_object(" + ", ".join(parts) + ")"
        # An insert records who and when only: the inserted values are the row
        # itself until the first update, whose old_values then keep them.
        session = "(SELECT actor FROM stdm_session WHERE id = 1)"
        outside = f"'{self.OUTSIDE}'"
        claimed = (f"{outside} || CASE WHEN NEW.updated_by IS NOT OLD.updated_by "
                   "THEN ': ' || NEW.updated_by ELSE '' END")
        for action, old, new, who in (
            ("insert", "NULL", "NULL",
             f"coalesce({session}, {outside} || ': ' || coalesce(NEW.updated_by, 'unnamed'))"),
            ("update", values("OLD"), values("NEW"), f"coalesce({session}, {claimed})"),
            ("delete", values("OLD"), "NULL", f"coalesce({session}, {outside})"),
        ):
            ref = "OLD" if action == "delete" else "NEW"
            stamp = ""
            if action == "update":
                # Edits made with QGIS's own tools set neither updated_at nor
                # row_version; stamp them here (recursive triggers are off, so
                # this does not log twice).
                marker = "row_version" if "row_version" in columns else "updated_at"
                bump = ", row_version = row_version + 1" if marker == "row_version" else ""
                stamp = (f"UPDATE {table} SET updated_at = {NOW_SQL}, "
                         f"begin_lifespan_version = {NOW_SQL}{bump} WHERE id = NEW.id "
                         f"AND NEW.{marker} IS OLD.{marker};")
            self._con.execute(f"""
                CREATE TRIGGER audit_{table}_{action} AFTER {action.upper()} ON {table}
                BEGIN
                  INSERT INTO audit_log (table_name, record_id, action, changed_at, changed_by,
                                         old_values, new_values)
                  VALUES ('{table}', {ref}.id, '{action}', {NOW_SQL}, {who}, {old}, {new});
                  {stamp}
                END""")

    def create_schema_rules(self) -> None:
        con = self._con
        for event in ("UPDATE", "DELETE"):
            con.execute(f"""
                CREATE TRIGGER IF NOT EXISTS audit_log_no_{event.lower()}
                BEFORE {event} ON audit_log
                BEGIN SELECT {_raise("append_only", "audit_log")}; END""")
        share_sum = """(SELECT total(CAST(t.share_numerator AS REAL) / t.share_denominator)
                 FROM social_tenure t
                 WHERE t.spatial_unit_id = NEW.spatial_unit_id AND t.id <> NEW.id
                   AND t.end_lifespan_version IS NULL)
              + CAST(NEW.share_numerator AS REAL) / NEW.share_denominator"""
        for event in ("INSERT", "UPDATE"):
            con.execute(f"""
                CREATE TRIGGER IF NOT EXISTS social_tenure_rules_{event.lower()}
                BEFORE {event} ON social_tenure
                WHEN NEW.end_lifespan_version IS NULL
                BEGIN
                  SELECT {_raise("missing_reference", "party_id")}
                  WHERE NOT EXISTS (SELECT 1 FROM party WHERE id = NEW.party_id
                                    AND end_lifespan_version IS NULL);
                  SELECT {_raise("missing_reference", "spatial_unit_id")}
                  WHERE NOT EXISTS (SELECT 1 FROM spatial_unit WHERE id = NEW.spatial_unit_id
                                    AND end_lifespan_version IS NULL);
                  SELECT {_raise("share_exceeded", "share_numerator")}
                  WHERE {share_sum} > 1.000000001;
                END""")

    def create_register_rules(self) -> None:
        from .schema import APPEND_ONLY_TABLES, CERTIFICATE_FROZEN_COLUMNS, CLAIM_LOCKED_COLUMNS

        con = self._con
        self.create_append_only_rules(APPEND_ONLY_TABLES)
        for table, code in (("certificate", "certificate_frozen"), ("office_key", "key_kept")):
            con.execute(f"""
                CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                BEGIN SELECT {_raise(code, table)}; END""")
        frozen = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CERTIFICATE_FROZEN_COLUMNS)
        con.execute(f"""
            CREATE TRIGGER certificate_frozen BEFORE UPDATE ON certificate WHEN {frozen}
            BEGIN SELECT {_raise("certificate_frozen", "certificate")}; END""")
        key_fields = " OR ".join(f"NEW.{c} IS NOT OLD.{c}"
                                 for c in ("id", "public_key", "private_key", "algorithm"))
        con.execute(f"""
            CREATE TRIGGER office_key_kept BEFORE UPDATE ON office_key WHEN {key_fields}
            BEGIN SELECT {_raise("key_kept", "office_key")}; END""")
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CLAIM_LOCKED_COLUMNS)
        con.execute(f"""
            CREATE TRIGGER social_tenure_claim_locked BEFORE UPDATE ON social_tenure
            WHEN OLD.adjudication_state <> 'enumerated'
             AND NEW.adjudication_state IS OLD.adjudication_state AND ({changed})
            BEGIN SELECT {_raise("claim_locked", "adjudication_state")}; END""")
        con.execute(f"""
            CREATE TRIGGER social_tenure_claim_locked_delete BEFORE DELETE ON social_tenure
            WHEN OLD.adjudication_state <> 'enumerated'
            BEGIN SELECT {_raise("claim_locked", "adjudication_state")}; END""")

    def create_guard_rules(self) -> None:
        from .schema import CERTIFICATE_PRINT_COLUMNS, CLAIM_LOCKED_COLUMNS

        locked = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CLAIM_LOCKED_COLUMNS)
        # a claim past enumeration keeps its holder, unit, right and share even when the same
        # update moves its state; a state moves only behind its event
        self._con.execute(f"""
            CREATE TRIGGER social_tenure_adjudication_guard BEFORE UPDATE ON social_tenure
            BEGIN
              SELECT {_raise("claim_certified", "adjudication_state")}
              WHERE OLD.adjudication_state = 'issued' AND ({locked})
                AND EXISTS (SELECT 1 FROM certificate WHERE spatial_unit_id = OLD.spatial_unit_id
                            AND status = 'valid');
              SELECT {_raise("claim_locked", "adjudication_state")}
              WHERE OLD.adjudication_state <> 'enumerated' AND ({locked});
              SELECT {_raise("state_without_event", "adjudication_state")}
              WHERE (NEW.adjudication_state IS NOT OLD.adjudication_state AND NOT EXISTS (
                       SELECT 1 FROM adjudication_event e
                       WHERE e.id = (SELECT max(id) FROM adjudication_event
                                     WHERE social_tenure_id = NEW.id)
                         AND e.from_state IS OLD.adjudication_state
                         AND e.to_state IS NEW.adjudication_state))
                 OR (NEW.public_display_id IS NOT OLD.public_display_id
                     AND NEW.adjudication_state IS OLD.adjudication_state);
            END""")
        printed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CERTIFICATE_PRINT_COLUMNS)
        newest = ("(SELECT event FROM certificate_event WHERE id = (SELECT max(id) FROM "
                  "certificate_event WHERE certificate_id = NEW.id))")
        prints = ("(SELECT count(*) FROM certificate_event WHERE certificate_id = NEW.id "
                  "AND event IN ('issued', 'reprinted'))")
        self._con.execute(f"""
            CREATE TRIGGER certificate_acts BEFORE UPDATE ON certificate
            WHEN ({printed})
              OR (NEW.status IS NOT OLD.status AND (OLD.status IS NOT 'valid'
                  OR NEW.status NOT IN ('revoked', 'superseded') OR {newest} IS NOT NEW.status))
              OR (NEW.revoked_reason IS NOT OLD.revoked_reason
                  AND NOT (OLD.status IS 'valid' AND NEW.status IS 'revoked'))
              OR (NEW.superseded_by IS NOT OLD.superseded_by
                  AND NOT (OLD.status IS 'valid' AND NEW.status IS 'superseded'))
              OR (NEW.print_count IS NOT OLD.print_count
                  AND (OLD.status IS NOT 'valid' OR NEW.print_count IS NOT {prints}))
            BEGIN SELECT {_raise("certificate_act", "certificate")}; END""")

    def create_key_rules(self) -> None:
        from .schema import office_key_update_refused

        self._con.execute("DROP TRIGGER IF EXISTS office_key_kept")
        self._con.execute(f"""
            CREATE TRIGGER office_key_kept BEFORE UPDATE ON office_key
            WHEN {office_key_update_refused("IS NOT")}
            BEGIN SELECT {_raise("key_kept", "office_key")}; END""")

    def create_append_only_rules(self, tables: Sequence[str]) -> None:
        """Registers that only grow: any UPDATE or DELETE of their rows is refused."""
        for table in tables:
            for event in ("UPDATE", "DELETE"):
                self._con.execute(f"""
                    CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}
                    BEGIN SELECT {_raise("register_append_only", table)}; END""")

    def backup_to(self, target_path: str) -> None:
        """Online copy of the whole database (consistent even while in use)."""
        target = sqlite3.connect(target_path)
        try:
            self._con.backup(target)
        finally:
            target.close()

    def close(self) -> None:
        self._con.close()


def _raise(code: str, field: str) -> str:
    """SQL that aborts with a message the user can read and rule_error can parse."""
    message = RULE_MESSAGES[code].replace("'", "''")
    return f"RAISE(ABORT, '{RULE_MARKER}{code}:{field}: {message}')"


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path))
