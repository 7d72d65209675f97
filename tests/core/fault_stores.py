"""The stores whose writers the fault test kills, on each backend.

The test does the same on SpatiaLite and PostGIS; what differs lives here:
how a fresh store is made from a template, how it is opened for the checks,
what "integrity" means, and, on PostGIS, waiting for the server to notice
that its client is dead. Until it has, the dead client's session may still
hold its transaction and its locks; a killed client of PostGIS relies on the
server to roll that transaction back, and this is where the test checks it
did (``settle``).

A store is named by one string, as on the worker's command line: a file
path, or ``fault_worker.postgis_spec``.
"""
from __future__ import annotations

import contextlib
import json
import pathlib
import sqlite3
import time
from dataclasses import dataclass, field

import fault_worker  # tests/core is on sys.path (no __init__.py)

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.store.publish import copy_store

#: how long the server may take to end a dead client's session (it takes milliseconds)
SETTLE_SECONDS = 10.0
SETTLE_POLL = 0.005
#: where amcheck is installed, out of the way of the stores' own schemas
AMCHECK_SCHEMA = "fault_amcheck"


@dataclass
class Settled:
    """What was left of the worker's sessions once the server had noticed its death."""

    seconds: float = 0.0  # until the worker's sessions were gone (or SETTLE_SECONDS)
    problems: list[str] = field(default_factory=list)  # transactions or locks left
    idle_sessions: int = 0  # sessions still connected, idle, after SETTLE_SECONDS


def fresh_copy(template: pathlib.Path, folder: pathlib.Path, name: str) -> pathlib.Path:
    """A page-by-page copy (SQLite's backup API), whole even if the template has a WAL."""
    path = folder / name
    with contextlib.closing(sqlite3.connect(template)) as source, \
            contextlib.closing(sqlite3.connect(path)) as target:
        source.backup(target)
    return path


class FileStores:
    """SpatiaLite stores: files, copied page by page from the template files."""

    name = "spatialite"

    def __init__(self, templates: dict[str, pathlib.Path], folder: pathlib.Path) -> None:
        self.templates = templates
        self.folder = folder

    def fresh(self, template: str, name: str) -> str:
        return str(fresh_copy(self.templates[template], self.folder, f"{name}.sqlite"))

    def new(self, name: str) -> str:
        """A name for a store that the worker will create."""
        return str(self.folder / f"{name}.sqlite")

    def exists(self, spec: str) -> bool:
        return pathlib.Path(spec).exists()

    def open(self, spec: str) -> SettlementStore:
        return SettlementStore.open(spec, actor="fault-check")

    def integrity(self, store: SettlementStore) -> str:
        return store.db.scalar("PRAGMA integrity_check")

    def settle(self, spec: str) -> Settled:
        """Nothing to wait for: SQLite's locks die with the process that held them."""
        return Settled()

    def discard(self, spec: str) -> None:
        """Nothing to do: the files are left in the test's temporary folder."""

    def close(self) -> None:
        """Nothing to close."""


class PostgisStores:
    """PostGIS stores, each in a fresh schema of the test server.

    A fresh store is made with ``create_postgis`` and filled with
    ``copy_store`` from the same SpatiaLite template the file stores are
    copied from, so both backends start from the same records. The worker
    connects with ``application_name`` set to its schema, which is how its
    sessions are found in ``pg_stat_activity``.
    """

    name = "postgis"

    def __init__(self, templates: dict[str, pathlib.Path], server) -> None:
        self.templates = templates
        self.server = server
        self.connection = {"host": server.host, "port": server.port, "user": server.user,
                           "dbname": server.dbname}
        self._watch = server.connect()  # the parent's own session, for the catalogue
        self._watch.autocommit = True
        self._run(f"CREATE SCHEMA IF NOT EXISTS {AMCHECK_SCHEMA}")
        self._run(f"CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA {AMCHECK_SCHEMA}")

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._watch.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    @staticmethod
    def schema(spec: str) -> str:
        return json.loads(spec[len(fault_worker.POSTGIS):])["schema"]

    def _spec(self, schema: str) -> str:
        tagged = dict(self.connection, application_name=f"stdm-fault {schema}")
        return fault_worker.postgis_spec(tagged, schema)

    def fresh(self, template: str, name: str) -> str:
        schema = self.server.fresh_schema("fault")
        with SettlementStore.open(self.templates[template], actor="fault",
                                  read_only=True) as source, \
                SettlementStore.create_postgis(self.connection, schema, source.srid,
                                               actor="fault") as store:
            copy_store(source, store)
        return self._spec(schema)

    def new(self, name: str) -> str:
        """An empty schema, for a store that the worker will create."""
        return self._spec(self.server.fresh_schema("fault"))

    def exists(self, spec: str) -> bool:
        return bool(self._run("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                              (self.schema(spec),)))

    def open(self, spec: str) -> SettlementStore:
        """A new connection, not the worker's: it is not tagged with the worker's name."""
        return SettlementStore.open_postgis(self.connection, self.schema(spec),
                                            actor="fault-check")

    def integrity(self, store: SettlementStore) -> str:
        """amcheck's B-tree check (with every heap row found in its index) of each index
        of the store's schema; PostgreSQL has no client-side check of whole pages."""
        indexes = self._run(
            "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam "
            "WHERE n.nspname = %s AND c.relkind = 'i' AND a.amname = 'btree'",
            (store.db.schema,))
        problems = []
        for oid, name in indexes:
            try:
                self._run(f"SELECT {AMCHECK_SCHEMA}.bt_index_check(%s::regclass, true)",
                          (oid,))
            except Exception as error:  # noqa: BLE001 - every failure is a finding
                problems.append(f"{name}: {str(error).strip()}")
        return "; ".join(problems) or "ok"

    def settle(self, spec: str) -> Settled:
        """Wait until the worker's sessions are gone (at most SETTLE_SECONDS), then list
        what is left: its sessions still in a transaction, and every lock that a client
        session holds on the store's tables or as an advisory lock (the numbering)."""
        tag = f"stdm-fault {self.schema(spec)}"
        started = time.perf_counter()
        while True:
            sessions = self._run("SELECT pid, state, xact_start IS NOT NULL "
                                 "FROM pg_stat_activity WHERE application_name = %s", (tag,))
            if not sessions or time.perf_counter() - started > SETTLE_SECONDS:
                break
            time.sleep(SETTLE_POLL)
        busy = [s for s in sessions if s[1] != "idle" or s[2]]
        settled = Settled(seconds=time.perf_counter() - started,
                          idle_sessions=len(sessions) - len(busy))
        settled.problems += [f"session {pid} of the worker still {state} "
                             f"{SETTLE_SECONDS:.0f} s after it ended" for pid, state, _ in busy]
        locks = self._run(
            "SELECT l.pid, l.locktype, l.mode, coalesce(c.relname, '') FROM pg_locks l "
            "JOIN pg_stat_activity s ON s.pid = l.pid AND s.backend_type = 'client backend' "
            "LEFT JOIN pg_class c ON c.oid = l.relation "
            "LEFT JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE l.pid <> pg_backend_pid() AND (n.nspname = %s OR l.locktype = 'advisory')",
            (self.schema(spec),))
        settled.problems += [f"{mode} ({kind} {relation}) still held by session {pid}"
                             for pid, kind, mode, relation in locks]
        return settled

    def discard(self, spec: str) -> None:
        """Drop the store's schema: the server is shared by the whole test session."""
        self.server.drop_schema(self.schema(spec))

    def close(self) -> None:
        self._watch.close()
