"""An open store: create, open, upgrade, and write atomically.

``Store`` is the store as the lower capabilities see it: its database, who
works in it, its transactions. ``core.settlement_store.SettlementStore``
adds the repositories of every capability on top. A store is one
SpatiaLite file (plus, optionally, a documents folder beside it named
``<file>.documents``), or one schema of a PostGIS database for shared
deployments; the repositories are the same on both. Opening
checks everything that can be wrong with the store before anything is
written to it.
"""
from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import sqlite3
import uuid
from datetime import datetime, timezone
from typing import Iterator

from .backend import Backend, transaction
from .crs import resolve_srid
from .errors import (
    NewerStoreError,
    NotAStoreError,
    ReadOnlyStoreError,
    StoreError,
    StoreExistsError,
    StoreLockedError,
    UnknownCrsError,
)
from .migrations import SCHEMA_VERSION, migrate
from .schema import create_session_table
from .spatialite import SpatiaLiteBackend

#: the plugin's version, written into every new store and backup (metadata.txt has it too)
PLUGIN_VERSION = "0.1.0"
SQLITE_HEADER = b"SQLite format 3\x00"
INFO_TABLE = "stdm_store_info"


def utc_now() -> str:
    """ISO 8601 UTC with milliseconds, the same form the database defaults write."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some services, containers)
        return "unknown"


class Store:
    """An open store; use ``create`` or ``open``, then ``close`` (or ``with``).

    The class methods make an instance of the class they are called on, so
    ``SettlementStore.open`` gives a store with every capability's repositories.
    """

    def __init__(self, backend: Backend, *, actor: str, path: str | None) -> None:
        self.db = backend
        self.actor = actor
        self.path = path
        #: the person signed in (core/store/users.py), or None
        self.user = None
        #: the office key unlocked with its passphrase by the person signed in
        #: (core/certificates/office_keys.py), or None
        self.signer = None
        info = {r["key"]: r["value"] for r in backend.query(f"SELECT key, value FROM {INFO_TABLE}")}
        self.store_id: str = info["store_id"]
        self.srid: int = int(info["srid"])
        self.schema_version: int = int(info["schema_version"])

    # --- life cycle --------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, crs: str | int, *, actor: str | None = None,
               target_version: int = SCHEMA_VERSION) -> "Store":
        """Make a new store at ``path`` in ``crs``; nothing is left on disk if it fails."""
        path = os.fspath(path)
        srid = resolve_srid(crs)
        if os.path.exists(path):
            raise StoreExistsError(f"{path} already exists; choose a new file name.", path)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise StoreError(f"The folder {folder} does not exist.", path)
        if not os.access(folder, os.W_OK):
            raise ReadOnlyStoreError(f"Cannot write in the folder {folder}.", path)
        actor = actor or default_actor()
        partial = f"{path}.creating-{uuid.uuid4().hex[:8]}"
        try:
            db = SpatiaLiteBackend(partial)
            try:
                with transaction(db):
                    db.init_spatial_metadata()
                    if not db.srid_exists(srid):
                        raise UnknownCrsError(
                            f"EPSG:{srid} is not known to SpatiaLite; pick another CRS.",
                            f"EPSG:{srid}")
                    _create_info_tables(db, srid, actor)
                    migrate(db, 0, srid, target_version)
            finally:
                db.close()
            os.replace(partial, path)
        finally:
            for leftover in (partial, partial + "-journal", partial + "-wal", partial + "-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)
        return cls.open(path, actor=actor, upgrade=target_version == SCHEMA_VERSION)

    @classmethod
    def open(cls, path: str | os.PathLike, *, actor: str | None = None, read_only: bool = False,
             upgrade: bool = True, timeout_ms: int = 5000) -> "Store":
        """Open an existing store, upgrading an older schema (after a backup copy).

        ``upgrade=False`` opens an older store as it is (for tools and tests).
        """
        path = os.fspath(path)
        _check_file(path, read_only)
        try:
            db = SpatiaLiteBackend(path, read_only=read_only, timeout_ms=timeout_ms)
        except sqlite3.Error as exc:
            raise NotAStoreError(f"{path} could not be opened as a store: {exc}", path) from exc
        try:
            _checked_version(db)  # before anything is written, even the WAL switch
            if not read_only:
                _check_not_locked(db, path)
                db.enable_wal()
            return cls._open_backend(db, path, actor=actor, upgrade=upgrade and not read_only,
                                     backup=lambda version: _backup_before_upgrade(
                                         db, path, version))
        except BaseException:
            db.close()
            raise

    @classmethod
    def create_postgis(cls, connection: dict, schema: str, crs: str | int, *,
                       actor: str | None = None,
                       target_version: int = SCHEMA_VERSION) -> "Store":
        """Make a new store in a new (or empty) schema of a PostGIS database."""
        from .postgis import PostGISBackend

        srid = resolve_srid(crs)
        actor = actor or default_actor()
        db = PostGISBackend(connection, schema)
        try:
            if db.query("SELECT 1 FROM information_schema.tables WHERE table_schema = ?",
                        (db.schema,)):
                raise StoreExistsError(f"{db.location} is not empty; choose a new schema.",
                                       db.location)
            with transaction(db):  # the schema too is rolled back if anything fails
                db.execute(f'CREATE SCHEMA IF NOT EXISTS "{db.schema}"')
                db.init_spatial_metadata()
                if not db.srid_exists(srid):
                    raise UnknownCrsError(f"EPSG:{srid} is not known to PostGIS.",
                                          f"EPSG:{srid}")
                _create_info_tables(db, srid, actor)
                migrate(db, 0, srid, target_version)
        finally:
            db.close()
        return cls.open_postgis(connection, schema, actor=actor,
                                upgrade=target_version == SCHEMA_VERSION)

    @classmethod
    def open_postgis(cls, connection: dict, schema: str, *, actor: str | None = None,
                     upgrade: bool = True) -> "Store":
        """Open a store in a PostGIS schema; an older schema upgrades in one transaction."""
        from .postgis import PostGISBackend

        db = PostGISBackend(connection, schema)
        try:
            return cls._open_backend(db, None, actor=actor, upgrade=upgrade, backup=None)
        except BaseException:
            db.close()
            raise

    @classmethod
    def _open_backend(cls, db: Backend, path: str | None, *, actor: str | None, upgrade: bool,
                      backup) -> "Store":
        version = _checked_version(db)
        if version < SCHEMA_VERSION and upgrade:
            if backup is not None:
                backup(version)
            srid = int(db.scalar(f"SELECT value FROM {INFO_TABLE} WHERE key = 'srid'"))
            with transaction(db):
                migrate(db, version, srid)
        return cls(db, actor=actor or default_actor(), path=path)

    def reopen(self, actor: str | None = None) -> "Store":
        """A second, independent connection to the same store (another user, a worker)."""
        if self.db.dialect == "postgis":
            return type(self).open_postgis(
                self.db.connection_params, self.db.schema,  # type: ignore[attr-defined]
                actor=actor or self.actor)
        return type(self).open(self.path or "", actor=actor or self.actor)

    @property
    def actor(self) -> str:
        """Who works in this session: the history records every write made through the
        plugin under this name (the backend hands it to the audit triggers)."""
        return self.db.actor

    @actor.setter
    def actor(self, name: str) -> None:
        self.db.actor = name

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ---------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator["Store"]:
        """All writes in the block land together or not at all."""
        with transaction(self.db):
            yield self

    @property
    def documents_dir(self) -> str | None:
        return None if self.path is None else self.path + ".documents"

    def history(self, table: str, record_id: str) -> list[dict]:
        from .history import record_versions

        return record_versions(self.db, table, record_id)

    def copy_to(self, target: str | os.PathLike) -> None:
        """Copy the store (consistent even while open) with its documents folder."""
        target = os.fspath(target)
        if os.path.exists(target):
            raise StoreExistsError(f"{target} already exists.", target)
        self.db.backup_to(target)  # type: ignore[attr-defined]
        if self.documents_dir and os.path.isdir(self.documents_dir):
            shutil.copytree(self.documents_dir, target + ".documents")


def _create_info_tables(db: Backend, srid: int, actor: str) -> None:
    db.execute(f"CREATE TABLE {INFO_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE stdm_schema_history (version INTEGER PRIMARY KEY, "
               "applied_at TEXT NOT NULL)")
    create_session_table(db)
    db.executemany(f"INSERT INTO {INFO_TABLE} (key, value) VALUES (?, ?)", [
        ("schema_version", "0"),
        ("store_id", str(uuid.uuid4())),
        ("srid", str(srid)),
        ("created_at", utc_now()),
        ("created_by", actor),
        ("created_with", f"stdm_plugin {PLUGIN_VERSION}"),
    ])


def _check_file(path: str, read_only: bool) -> None:
    if not os.path.exists(path):
        raise StoreError(f"{path} does not exist.", path)
    if os.path.isdir(path):
        raise NotAStoreError(f"{path} is a folder, not a store file.", path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except PermissionError as exc:
        raise ReadOnlyStoreError(f"{path} cannot be read: {exc}", path) from exc
    if header != SQLITE_HEADER:
        raise NotAStoreError(f"{path} is not a settlement store (not a SQLite database).", path)
    if read_only:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(path, os.W_OK):
        raise ReadOnlyStoreError(
            f"{path} is read-only. Ask for write access, or open it read-only.", path)
    if not os.access(folder, os.W_OK):
        raise ReadOnlyStoreError(
            f"The folder of {path} is read-only; SQLite needs to write its journal beside "
            "the store. Copy the store to a writable folder, or open it read-only.", path)


def _checked_version(db: Backend) -> int:
    """The store's schema version; refuses a store made by a newer plugin."""
    version = _schema_version(db, db.location)
    if version > SCHEMA_VERSION:
        raise NewerStoreError(
            f"{db.location} was made by a newer version of the plugin (schema {version}; "
            f"this plugin knows up to {SCHEMA_VERSION}). Update the plugin to open it.",
            db.location, version, SCHEMA_VERSION)
    return version


def _schema_version(db: Backend, path: str) -> int:
    try:
        if not db.table_exists(INFO_TABLE):
            raise NotAStoreError(
                f"{path} is a database but not a settlement store "
                f"(it has no {INFO_TABLE} table).", path)
        value = db.scalar(f"SELECT value FROM {INFO_TABLE} WHERE key = 'schema_version'")
    except sqlite3.DatabaseError as exc:
        raise NotAStoreError(f"{path} is not a readable settlement store: {exc}", path) from exc
    if value is None or not str(value).isdigit():
        raise NotAStoreError(f"{path} has no valid schema version.", path)
    return int(value)


def _check_not_locked(db: Backend, path: str) -> None:
    try:
        db.begin()
        db.rollback()
    except sqlite3.OperationalError as exc:
        raise StoreLockedError(
            f"{path} is locked by another program that is writing to it. "
            "Close the other QGIS or plugin window, or try again in a moment.", path) from exc


def _backup_before_upgrade(db: SpatiaLiteBackend, path: str, version: int) -> None:
    backup = f"{path}.schema-v{version}.bak"
    if not os.path.exists(backup):
        db.backup_to(backup)
