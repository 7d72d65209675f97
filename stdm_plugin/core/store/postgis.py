"""The PostGIS backend: one settlement store per PostgreSQL schema.

For shared, city-wide deployments: many land officers and supervisors at
once. The same migrations and repositories run here as on SpatiaLite; what
differs is in this file: placeholders, types, PL/pgSQL triggers, and real
row locks (SQLite has only one writer at a time, PostgreSQL has many).
Passwords are never stored by the core: pass a service name from
pg_service.conf, or let QGIS's authentication manager supply them.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from .backend import RULE_MARKER, RULE_MESSAGES, Backend, rule_error
from .errors import MissingReferenceError, StoreError, StoreLockedError

NOW_SQL = ("to_char(clock_timestamp() AT TIME ZONE 'UTC', "
           "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOCK_TIMEOUT_MS = 5000
GEOMETRY_TYPES = {"MULTIPOLYGON": "MultiPolygon", "POINT": "Point", "POLYGON": "Polygon"}


#: a transaction left idle this long (ms) is ended by the server, its locks released
IDLE_IN_TRANSACTION_MS = 600_000
#: TCP keepalives both ways, so that the server notices a client that is gone (and the
#: client a server that is gone) in about two minutes instead of two hours
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10,
              "keepalives_count": 6}
SERVER_KEEPALIVES = {"tcp_keepalives_idle": 60, "tcp_keepalives_interval": 10,
                     "tcp_keepalives_count": 6}


def check_schema_name(schema: str) -> str:
    if not SCHEMA_NAME.match(schema or ""):
        raise StoreError(f"{schema!r} is not a usable schema name: lower-case letters, digits "
                         "and _ only, starting with a letter.")
    return schema


def _driver():
    try:
        import psycopg2
        import psycopg2.extras
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise StoreError("PostgreSQL support needs the psycopg2 package "
                         "(Debian: python3-psycopg2; QGIS ships it).") from exc
    return psycopg2


class PostGISBackend(Backend):
    dialect = "postgis"
    now_sql = NOW_SQL
    uuid_sql = "gen_random_uuid()::text"
    real_type = "double precision"
    blob_type = "bytea"
    serial_pk = "bigserial PRIMARY KEY"
    json_list_sql = "(SELECT jsonb_array_elements_text(CAST(? AS jsonb)))"

    def __init__(self, connection: dict[str, Any], schema: str, *, create_schema: bool = False,
                 lock_timeout_ms: int = LOCK_TIMEOUT_MS,
                 idle_timeout_ms: int = IDLE_IN_TRANSACTION_MS) -> None:
        psycopg2 = _driver()
        self.schema = check_schema_name(schema)
        self.connection_params = dict(connection)
        shown = {k: v for k, v in connection.items() if k not in ("password",)}
        self.location = f"PostgreSQL {shown} schema {schema}"
        try:
            self._con = psycopg2.connect(**{**KEEPALIVES, **connection})
        except psycopg2.OperationalError as exc:
            raise StoreError(f"Could not connect to {self.location}: "
                             f"{str(exc).strip()}") from exc
        self._con.autocommit = True
        self._errors = psycopg2
        with self._con.cursor() as cursor:
            if create_schema:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            cursor.execute(f'SET search_path TO "{self.schema}", public')
            cursor.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
            # a client that vanished mid-transaction (power cut, lost network) must not
            # hold its locks for the two hours TCP takes to notice: the server ends it
            cursor.execute("SET idle_in_transaction_session_timeout = "
                           f"{int(idle_timeout_ms)}")
            for setting, value in SERVER_KEEPALIVES.items():
                cursor.execute(f"SET {setting} = {int(value)}")

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    # --- plain SQL -------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._con.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params))
            return cursor.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        from psycopg2.extras import execute_batch

        with self._con.cursor() as cursor:
            execute_batch(cursor, self._sql(sql), [tuple(r) for r in rows], page_size=500)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        from psycopg2.extras import RealDictCursor

        with self._con.cursor(cursor_factory=RealDictCursor) as cursor:
            cursor.execute(self._sql(sql), tuple(params))
            return [dict(row) for row in cursor.fetchall()]

    # --- transactions ----------------------------------------------------
    def begin(self) -> None:
        self.execute("BEGIN")
        # who writes, for the audit triggers, until this transaction ends
        self.execute("SELECT set_config('stdm.actor', ?, true)", (self.actor,))

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if not self._con.closed:
            self.execute("ROLLBACK")

    def savepoint(self, name: str) -> None:
        self.execute(f"SAVEPOINT {name}")

    def release(self, name: str) -> None:
        self.execute(f"RELEASE SAVEPOINT {name}")

    def rollback_to(self, name: str) -> None:
        self.execute(f"ROLLBACK TO SAVEPOINT {name}")
        self.execute(f"RELEASE SAVEPOINT {name}")

    def lock_rows(self, table: str, ids: Sequence[str]) -> None:
        if ids:
            self.query(f"SELECT id FROM {table} WHERE id IN {self.json_list_sql} "
                       "ORDER BY id FOR UPDATE", (_json(list(ids)),))

    def lock_numbering(self, key: str) -> None:
        self.query("SELECT pg_advisory_xact_lock(hashtext(?))", (f"stdm:{key}",))

    def translate_error(self, error: Exception) -> Exception:
        errors = self._errors
        if not isinstance(error, errors.Error):
            return error
        text = str(error)
        rule = rule_error(text)
        if rule is not None:
            return rule
        code = getattr(error, "pgcode", None) or ""
        if code in ("55P03", "40P01", "57014"):  # lock timeout, deadlock, cancelled
            return StoreLockedError(
                f"The records are being saved by another user of {self.location}; "
                "try again in a moment.", self.location)
        if code == "23503":
            return MissingReferenceError(f"A record points at a missing record ({text.strip()})")
        if isinstance(error, errors.OperationalError) or isinstance(error, errors.InterfaceError):
            return StoreError(f"The connection to {self.location} failed: {text.strip()}. "
                              "Nothing was saved; reconnect and try again.", self.location)
        return error

    # --- schema ----------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return bool(self.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (self.schema, table)))

    def columns(self, table: str) -> list[str]:
        return [r["column_name"] for r in self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position", (self.schema, table))]

    def init_spatial_metadata(self) -> None:
        if not self.query("SELECT 1 FROM pg_extension WHERE extname = 'postgis'"):
            raise StoreError(
                f"The database of {self.location} has no PostGIS. Ask its administrator to run "
                "CREATE EXTENSION postgis; in it.", self.location)

    def srid_exists(self, srid: int) -> bool:
        return bool(self.query("SELECT 1 FROM spatial_ref_sys WHERE srid = ?", (srid,)))

    def add_geometry_column(self, table: str, column: str, srid: int, geometry_type: str) -> None:
        kind = GEOMETRY_TYPES[geometry_type.upper()]
        self.execute(f"ALTER TABLE {table} ADD COLUMN {column} geometry({kind}, {int(srid)})")
        self.execute(f"CREATE INDEX {table}_{column}_gix ON {table} USING GIST ({column})")

    def geometry_param(self, srid: int, multi: bool = False) -> str:
        inner = f"ST_GeomFromWKB(?, {int(srid)})"
        return f"ST_Multi({inner})" if multi else inner

    def geometry_as_wkb(self, column: str) -> str:
        return f"ST_AsBinary({column})"

    @property
    def _path(self) -> str:
        """Functions find the store's tables whatever the caller's search_path (QGIS's)."""
        return f'SET search_path = "{self.schema}", public'

    def create_audit_triggers(self, table: str, columns: Sequence[str],
                              geometry_columns: Sequence[str]) -> None:
        """Audit every change, and stamp edits that did not stamp themselves (QGIS's)."""
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_audit() RETURNS trigger LANGUAGE plpgsql
            {self._path} AS $body$
            DECLARE who text;
            BEGIN
              who := nullif(current_setting('stdm.actor', true), '');
              IF TG_OP = 'INSERT' THEN
                INSERT INTO audit_log (table_name, record_id, action, changed_at, changed_by)
                VALUES (TG_TABLE_NAME, NEW.id, 'insert', {NOW_SQL},
                        coalesce(who, '{self.OUTSIDE}: ' || coalesce(NEW.updated_by, 'unnamed')));
                RETURN NEW;
              ELSIF TG_OP = 'UPDATE' THEN
                INSERT INTO audit_log (table_name, record_id, action, changed_at, changed_by,
                                       old_values, new_values)
                VALUES (TG_TABLE_NAME, NEW.id, 'update', {NOW_SQL},
                        coalesce(who, '{self.OUTSIDE}' || CASE WHEN NEW.updated_by IS DISTINCT
                                 FROM OLD.updated_by THEN ': ' || NEW.updated_by ELSE '' END),
                        (to_jsonb(OLD) - 'content')::text, (to_jsonb(NEW) - 'content')::text);
                RETURN NEW;
              END IF;
              INSERT INTO audit_log (table_name, record_id, action, changed_at, changed_by,
                                     old_values)
              VALUES (TG_TABLE_NAME, OLD.id, 'delete', {NOW_SQL}, coalesce(who, '{self.OUTSIDE}'),
                      (to_jsonb(OLD) - 'content')::text);
              RETURN OLD;
            END $body$""")
        marker = "row_version" if "row_version" in columns else "updated_at"
        bump = "NEW.row_version := OLD.row_version + 1;" if marker == "row_version" else ""
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_stamp_{table}() RETURNS trigger LANGUAGE plpgsql
            {self._path} AS $body$
            BEGIN
              IF NEW.{marker} IS NOT DISTINCT FROM OLD.{marker} THEN
                NEW.updated_at := {NOW_SQL};
                NEW.begin_lifespan_version := NEW.updated_at;
                {bump}
              END IF;
              RETURN NEW;
            END $body$""")
        self.execute(f"DROP TRIGGER IF EXISTS audit_{table} ON {table}")
        self.execute(f"DROP TRIGGER IF EXISTS stamp_{table} ON {table}")
        self.execute(f"CREATE TRIGGER audit_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                     "FOR EACH ROW EXECUTE FUNCTION stdm_audit()")
        self.execute(f"CREATE TRIGGER stamp_{table} BEFORE UPDATE ON {table} "
                     f"FOR EACH ROW EXECUTE FUNCTION stdm_stamp_{table}()")

    def create_schema_rules(self) -> None:
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_append_only() RETURNS trigger LANGUAGE plpgsql
            {self._path} AS $body$ BEGIN {_raise("append_only", "audit_log")} END $body$""")
        self.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                     "FOR EACH ROW EXECUTE FUNCTION stdm_append_only()")
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_social_tenure_rules() RETURNS trigger
            LANGUAGE plpgsql {self._path} AS $body$
            BEGIN
              IF NEW.end_lifespan_version IS NOT NULL THEN RETURN NEW; END IF;
              -- one claim at a time per spatial unit, so concurrent shares are summed right
              PERFORM 1 FROM spatial_unit WHERE id = NEW.spatial_unit_id FOR UPDATE;
              IF NOT EXISTS (SELECT 1 FROM party WHERE id = NEW.party_id
                             AND end_lifespan_version IS NULL) THEN
                {_raise("missing_reference", "party_id")}
              END IF;
              IF NOT EXISTS (SELECT 1 FROM spatial_unit WHERE id = NEW.spatial_unit_id
                             AND end_lifespan_version IS NULL) THEN
                {_raise("missing_reference", "spatial_unit_id")}
              END IF;
              IF (SELECT coalesce(sum(t.share_numerator::float8 / t.share_denominator), 0)
                  FROM social_tenure t
                  WHERE t.spatial_unit_id = NEW.spatial_unit_id AND t.id <> NEW.id
                    AND t.end_lifespan_version IS NULL)
                 + NEW.share_numerator::float8 / NEW.share_denominator > 1.000000001 THEN
                {_raise("share_exceeded", "share_numerator")}
              END IF;
              RETURN NEW;
            END $body$""")
        self.execute("CREATE TRIGGER social_tenure_rules BEFORE INSERT OR UPDATE ON "
                     "social_tenure FOR EACH ROW EXECUTE FUNCTION stdm_social_tenure_rules()")

    def create_register_rules(self) -> None:
        from .schema import APPEND_ONLY_TABLES, CERTIFICATE_FROZEN_COLUMNS, CLAIM_LOCKED_COLUMNS

        self.create_append_only_rules(APPEND_ONLY_TABLES)
        frozen = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}"
                             for c in CERTIFICATE_FROZEN_COLUMNS)
        key_fields = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}"
                                 for c in ("id", "public_key", "private_key", "algorithm"))
        for table, code, changed in (("certificate", "certificate_frozen", frozen),
                                     ("office_key", "key_kept", key_fields)):
            self.execute(f"""
                CREATE OR REPLACE FUNCTION stdm_{table}_kept() RETURNS trigger
                LANGUAGE plpgsql {self._path} AS $body$
                BEGIN
                  IF TG_OP = 'DELETE' OR {changed} THEN {_raise(code, table)} END IF;
                  RETURN NEW;
                END $body$""")
            self.execute(f"CREATE TRIGGER {table}_kept BEFORE UPDATE OR DELETE ON {table} "
                         f"FOR EACH ROW EXECUTE FUNCTION stdm_{table}_kept()")
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in CLAIM_LOCKED_COLUMNS)
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_claim_locked() RETURNS trigger
            LANGUAGE plpgsql {self._path} AS $body$
            BEGIN
              IF OLD.adjudication_state <> 'enumerated' AND (TG_OP = 'DELETE' OR (
                   NEW.adjudication_state IS NOT DISTINCT FROM OLD.adjudication_state
                   AND ({changed}))) THEN
                {_raise("claim_locked", "adjudication_state")}
              END IF;
              IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
              RETURN NEW;
            END $body$""")
        self.execute("CREATE TRIGGER social_tenure_claim_locked BEFORE UPDATE OR DELETE ON "
                     "social_tenure FOR EACH ROW EXECUTE FUNCTION stdm_claim_locked()")

    def create_key_rules(self) -> None:
        from .schema import office_key_update_refused

        # the trigger of schema 5 calls this function: replacing it changes the rule
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_office_key_kept() RETURNS trigger
            LANGUAGE plpgsql {self._path} AS $body$
            BEGIN
              IF TG_OP = 'DELETE' OR {office_key_update_refused("IS DISTINCT FROM")} THEN
                {_raise("key_kept", "office_key")}
              END IF;
              RETURN NEW;
            END $body$""")

    def create_guard_rules(self) -> None:
        from .schema import CERTIFICATE_PRINT_COLUMNS, CLAIM_LOCKED_COLUMNS

        locked = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in CLAIM_LOCKED_COLUMNS)
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_claim_guarded() RETURNS trigger
            LANGUAGE plpgsql {self._path} AS $body$
            DECLARE newest adjudication_event%ROWTYPE;
            BEGIN
              IF OLD.adjudication_state = 'issued' AND ({locked})
                 AND EXISTS (SELECT 1 FROM certificate WHERE spatial_unit_id = OLD.spatial_unit_id
                             AND status = 'valid') THEN
                {_raise("claim_certified", "adjudication_state")}
              END IF;
              IF OLD.adjudication_state <> 'enumerated' AND ({locked}) THEN
                {_raise("claim_locked", "adjudication_state")}
              END IF;
              IF NEW.adjudication_state IS DISTINCT FROM OLD.adjudication_state THEN
                SELECT * INTO newest FROM adjudication_event WHERE social_tenure_id = NEW.id
                ORDER BY id DESC LIMIT 1;
                IF newest.id IS NULL
                   OR newest.from_state IS DISTINCT FROM OLD.adjudication_state
                   OR newest.to_state IS DISTINCT FROM NEW.adjudication_state THEN
                  {_raise("state_without_event", "adjudication_state")}
                END IF;
              ELSIF NEW.public_display_id IS DISTINCT FROM OLD.public_display_id THEN
                {_raise("state_without_event", "adjudication_state")}
              END IF;
              RETURN NEW;
            END $body$""")
        # named to fire before social_tenure_claim_locked (PostgreSQL goes by name)
        self.execute("CREATE TRIGGER social_tenure_adjudication_guard BEFORE UPDATE ON "
                     "social_tenure FOR EACH ROW EXECUTE FUNCTION stdm_claim_guarded()")
        printed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}"
                              for c in CERTIFICATE_PRINT_COLUMNS)
        self.execute(f"""
            CREATE OR REPLACE FUNCTION stdm_certificate_acts() RETURNS trigger
            LANGUAGE plpgsql {self._path} AS $body$
            DECLARE newest text; prints bigint;
            BEGIN
              SELECT event INTO newest FROM certificate_event WHERE certificate_id = NEW.id
              ORDER BY id DESC LIMIT 1;
              SELECT count(*) INTO prints FROM certificate_event WHERE certificate_id = NEW.id
              AND event IN ('issued', 'reprinted');
              IF ({printed})
                 OR (NEW.status IS DISTINCT FROM OLD.status AND (OLD.status <> 'valid'
                     OR NEW.status NOT IN ('revoked', 'superseded')
                     OR newest IS DISTINCT FROM NEW.status))
                 OR (NEW.revoked_reason IS DISTINCT FROM OLD.revoked_reason
                     AND NOT (OLD.status = 'valid' AND NEW.status = 'revoked'))
                 OR (NEW.superseded_by IS DISTINCT FROM OLD.superseded_by
                     AND NOT (OLD.status = 'valid' AND NEW.status = 'superseded'))
                 OR (NEW.print_count IS DISTINCT FROM OLD.print_count
                     AND (OLD.status <> 'valid' OR NEW.print_count IS DISTINCT FROM prints)) THEN
                {_raise("certificate_act", "certificate")}
              END IF;
              RETURN NEW;
            END $body$""")
        self.execute("CREATE TRIGGER certificate_acts BEFORE UPDATE ON certificate "
                     "FOR EACH ROW EXECUTE FUNCTION stdm_certificate_acts()")

    def create_append_only_rules(self, tables: Sequence[str]) -> None:
        """Registers that only grow: any UPDATE or DELETE of their rows is refused."""
        for table in tables:
            self.execute(f"""
                CREATE OR REPLACE FUNCTION stdm_{table}_append_only() RETURNS trigger
                LANGUAGE plpgsql {self._path} AS $body$
                BEGIN {_raise("register_append_only", table)} END $body$""")
            self.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "
                         f"{table} FOR EACH ROW EXECUTE FUNCTION stdm_{table}_append_only()")

    def close(self) -> None:
        if not self._con.closed:
            self._con.close()


def _raise(code: str, field: str) -> str:
    message = RULE_MESSAGES[code].replace("'", "''")
    return (f"RAISE EXCEPTION USING MESSAGE = '{RULE_MARKER}{code}:{field}: "
            f"{message}', ERRCODE = '23514';")


def _json(values: list) -> str:
    import json

    return json.dumps(values)
