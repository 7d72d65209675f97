"""Backups of a SpatiaLite store: one zip that restores to the same store, or not at all.

A backup is taken while the store is in use (SQLite's online backup, through
``SettlementStore.copy_to``), so nobody has to close QGIS first. The zip
holds ``store.sqlite``, the documents folder as ``documents/``,
``manifest.json`` (the store's id and schema version, when, the row count of
every table and the SHA-256 of the database and of each document file) and
``manifest.mac``, the manifest's MAC with the store's backup key, which is
kept outside the store and its backups (backup_keys.py). An office key whose
private part is still in the clear is left out of the backup's database. The
zip is written under a temporary name and renamed, so a full disk or a crash
never leaves something that looks like a backup.

Restoring checks the MAC first (backup_trust.py), then everything the
manifest promises before the store takes its place, so that an edited
backup, a truncated download or a damaged USB stick is refused with a reason
instead of becoming the land register. A PostGIS store is backed up with
PostgreSQL's own tools (pg_dump).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from ..settlement_store import SettlementStore
from ..store.backend import Backend
from ..store.errors import StdmError, StoreExistsError
from ..store.schema import PROTECTED_KEY_PREFIX, VERSIONED_TABLES
from ..store.store import INFO_TABLE, PLUGIN_VERSION, utc_now
from .backup_keys import BackupKeyring, manifest_mac
from .backup_trust import (
    MAC_ENTRY,
    Acceptance,
    BackupError,
    UnverifiedBackupError,
    accept_backup,
    authenticate,
    file_sha256,
    signing_fields,
    unverified_error,
)

__all__ = ["Acceptance", "BackupError", "UnverifiedBackupError", "backup_file_name",
           "backup_store", "restore_store", "table_counts"]

FORMAT = "stdm-store-backup"
#: 2: signed (manifest.mac, the manifest's "authentication"); 1: not signed
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DATABASE = "store.sqlite"
DOCUMENTS = "documents/"
#: document files are named by their checksum: nothing else is ever written from a backup
DOCUMENT_ENTRY = re.compile(r"^documents/[0-9a-f]{2}/[0-9a-f]{64}$")
COUNTED_TABLES = (*VERSIONED_TABLES, "submission", "audit_log", "spatial_unit_lineage")
CHUNK = 1 << 20
#: room left on the disk beyond what a restore extracts, for SQLite's journal and the rest
FREE_SPACE_MARGIN = 64 << 20
#: a manifest lists about 200 bytes per document: room for half a million documents
MAX_MANIFEST_BYTES = 100 << 20


def backup_file_name(store_path: str | None) -> str:
    """``<store>-backup-<UTC time>.zip``: sorts by time, says what it holds."""
    stem = Path(store_path or "store").stem
    return f"{stem}-backup-{utc_now()[:19].replace('-', '').replace(':', '')}Z.zip"


def backup_store(store: SettlementStore, target_path: str | os.PathLike,
                 keyring: BackupKeyring | None = None) -> Path:
    """Back up ``store`` (with its documents) into a new signed zip; returns its path.

    ``target_path`` is the zip to write, or a folder to write
    ``backup_file_name(store.path)`` in. An existing file is never overwritten.
    The store's backup key is taken from ``keyring`` (default:
    ``BackupKeyring.default()``), and made there by the store's first backup.
    """
    if store.db.dialect != "spatialite" or not store.path:
        raise BackupError(f"{store.db.location} is kept in PostgreSQL: back it up with "
                          "PostgreSQL's pg_dump (for example pg_dump --schema=<schema>); "
                          "the plugin backs up SpatiaLite stores only.", store.db.location)
    keyring = keyring or BackupKeyring.default()
    target = Path(target_path)
    if target.is_dir():
        target = target / backup_file_name(store.path)
    if target.exists():
        raise StoreExistsError(f"{target} already exists; choose a new name for the backup.",
                               str(target))
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.", str(target))
    work = tempfile.mkdtemp(prefix=".stdm-backup-", dir=target.parent)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                   dir=target.parent)
    os.close(fd)  # reopened by _write_zip; the name is what keeps others out
    try:
        database = os.path.join(work, DATABASE)
        store.copy_to(database)  # the database first: every document it names is then on disk
        _leave_out_clear_keys(database)
        documents = _document_files(database + ".documents")
        manifest = _manifest(store, database, documents)
        key = keyring.key_for(manifest["store_id"], create=True)
        manifest.update(signing_fields(key))  # type: ignore[arg-type]
        _write_zip(partial, database, documents, manifest, key)  # type: ignore[arg-type]
        if target.exists():  # appeared while we were writing
            raise StoreExistsError(f"{target} already exists; choose a new name for the "
                                   "backup.", str(target))
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as error:
        raise BackupError(f"The backup {target} could not be written: {error}",
                          str(target)) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(partial):
            os.remove(partial)
    return target


def restore_store(backup_path: str | os.PathLike, target_path: str | os.PathLike, *,
                  actor: str | None = None, keyring: BackupKeyring | None = None,
                  accept_unverified: Acceptance | None = None) -> SettlementStore:
    """Restore a backup as a new store file ``target_path``; returns the opened store.

    Refused, leaving nothing on disk, when the target (or its documents
    folder) exists, when the backup's MAC shows it was edited, or when the
    backup is not complete and unchanged. A backup whose MAC cannot be checked
    with ``keyring`` (default: ``BackupKeyring.default()``) raises
    UnverifiedBackupError, unless ``accept_unverified`` names an administrator
    of the store in the backup, with their password: the acceptance is then
    recorded in the restored store's store_event.
    """
    backup_path = os.fspath(backup_path)
    target = os.path.abspath(os.fspath(target_path))
    documents_target = target + ".documents"
    _refuse_existing(target, documents_target)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise BackupError(f"The folder {folder} does not exist.", target)
    keyring = keyring or BackupKeyring.default()
    work = tempfile.mkdtemp(prefix=".stdm-restore-", dir=folder)
    placed: list[str] = []
    try:
        manifest, unverified = _unpack(backup_path, work, keyring, accept_unverified)
        database = os.path.join(work, DATABASE)
        _check_database(database, manifest, backup_path)
        if unverified:
            accept_backup(database, accept_unverified,  # type: ignore[arg-type]
                          unverified, manifest, backup_path)
        _refuse_existing(target, documents_target)
        if os.path.isdir(database + ".documents"):
            os.rename(database + ".documents", documents_target)
            placed.append(documents_target)
        os.rename(database, target)
        placed.append(target)
        return SettlementStore.open(target, actor=actor)
    except BaseException:
        for path in placed:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                for leftover in (path, path + "-wal", path + "-shm"):
                    if os.path.exists(leftover):
                        os.remove(leftover)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table_counts(db: Backend) -> dict[str, int]:
    """Rows per table, retired records and history included: what a restore must hold."""
    return {table: int(db.scalar(f"SELECT count(*) FROM {table}"))
            for table in COUNTED_TABLES if db.table_exists(table)}


# --- writing -----------------------------------------------------------------
def _document_files(folder: str) -> dict[str, str]:
    """Zip entry -> file path of every checksum-named document (not half-written ones)."""
    found = {}
    if os.path.isdir(folder):
        for directory, _, files in os.walk(folder):
            for name in files:
                path = os.path.join(directory, name)
                entry = DOCUMENTS + os.path.relpath(path, folder).replace(os.sep, "/")
                if DOCUMENT_ENTRY.match(entry):
                    found[entry] = path
    return dict(sorted(found.items()))


def _leave_out_clear_keys(database: str) -> None:
    """An office key whose private part is still in the clear (schemas 5 to 8) stays out
    of the backup: the copy keeps its public part, and its private part becomes ''.

    secure_delete and VACUUM, so that the clear text is not left in a freed page of the copy.
    """
    prefix = len(PROTECTED_KEY_PREFIX)
    con = sqlite3.connect(database)
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                           "'office_key'").fetchone():
            return
        con.execute("PRAGMA secure_delete = ON")
        with con:
            changed = con.execute(
                "UPDATE office_key SET private_key = '' WHERE private_key <> '' AND "
                "substr(private_key, 1, ?) <> ?", (prefix, PROTECTED_KEY_PREFIX)).rowcount
        if changed:
            con.execute("VACUUM")
    finally:
        con.close()


def _manifest(store: SettlementStore, database: str,
              documents: dict[str, str]) -> dict[str, Any]:
    """What the copy holds (not the live store, which may have moved on since)."""
    copy = SettlementStore.open(database, read_only=True, upgrade=False)
    try:
        counts = table_counts(copy.db)
        info = {"store_id": copy.store_id, "schema_version": copy.schema_version,
                "srid": copy.srid, "created_by": store.actor,
                "source": os.path.basename(store.path or "")}
    finally:
        copy.close()
    return {"format": FORMAT, "format_version": FORMAT_VERSION, **info,
            "created_at": utc_now(), "plugin_version": PLUGIN_VERSION,
            "database": {"name": DATABASE, "sha256": file_sha256(database),
                         "size_bytes": os.path.getsize(database)},
            "counts": counts,
            "documents": {entry: file_sha256(path) for entry, path in documents.items()},
            "document_sizes": {entry: os.path.getsize(path) for entry, path in documents.items()}}


def _write_zip(path: str, database: str, documents: dict[str, str],
               manifest: dict[str, Any], key: bytes) -> None:
    raw_manifest = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    with open(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, raw_manifest)
            archive.writestr(MAC_ENTRY, manifest_mac(key, raw_manifest))
            archive.write(database, DATABASE)
            for entry, file_path in documents.items():
                archive.write(file_path, entry)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before the rename makes it the backup


# --- restoring ---------------------------------------------------------------
def _refuse_existing(*paths: str) -> None:
    for path in paths:
        if os.path.lexists(path):
            raise StoreExistsError(f"{path} already exists; restore into a new file name.",
                                   path)


def _unpack(backup_path: str, work: str, keyring: BackupKeyring,
            acceptance: Acceptance | None) -> tuple[dict[str, Any], str | None]:
    """Authenticate the manifest, then extract the database and documents into ``work``,
    each checked against it; returns the manifest and why it is unverified (or None)."""
    try:
        archive = zipfile.ZipFile(backup_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise BackupError(f"{backup_path} is not a readable backup (truncated, damaged or not "
                          f"a zip file): {error}", backup_path) from error
    with archive:
        manifest, raw_manifest = _read_manifest(archive, backup_path)
        unverified = authenticate(archive, raw_manifest, manifest, keyring, backup_path)
        if unverified and acceptance is None:
            raise unverified_error(unverified, manifest, keyring, backup_path)
        expected = {DATABASE: manifest["database"]["sha256"], **manifest["documents"]}
        names = set(archive.namelist()) - {MANIFEST, MAC_ENTRY}
        if names != set(expected):
            odd = sorted(names ^ set(expected))[:3]
            raise BackupError(f"{backup_path} does not hold what its manifest lists "
                              f"({', '.join(odd)}); it was changed after it was made.",
                              backup_path)
        sizes = _declared_sizes(archive, manifest, backup_path)
        _check_free_space(work, sum(sizes.values()), backup_path)
        for entry, sha256 in expected.items():
            destination = os.path.join(work, DATABASE) if entry == DATABASE else os.path.join(
                work, DATABASE + ".documents", *entry[len(DOCUMENTS):].split("/"))
            _extract_checked(archive, entry, destination, sha256, sizes[entry], backup_path)
    return manifest, unverified


def _declared_sizes(archive: zipfile.ZipFile, manifest: dict[str, Any],
                    backup_path: str) -> dict[str, int]:
    """What each entry will take once extracted: the zip's word, held to the manifest's."""
    promised = {DATABASE: manifest["database"].get("size_bytes"),
                **manifest.get("document_sizes", {})}
    sizes = {}
    for entry in (DATABASE, *manifest["documents"]):
        declared = archive.getinfo(entry).file_size
        if promised.get(entry) is not None and declared != promised[entry]:
            raise BackupError(f"{entry} in {backup_path} would expand to {declared:,} bytes, "
                              f"but its manifest promises {promised[entry]:,}: the backup was "
                              "changed after it was made. Nothing was restored.", backup_path)
        sizes[entry] = declared
    return sizes


def _check_free_space(folder: str, needed: int, backup_path: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed + FREE_SPACE_MARGIN > free:
        raise BackupError(f"Restoring {backup_path} needs {needed / 2**20:,.0f} MiB and the "
                          f"disk has {free / 2**20:,.0f} MiB free; free some space or restore "
                          "elsewhere. Nothing was restored.", backup_path)


def _read_manifest(archive: zipfile.ZipFile,
                   backup_path: str) -> tuple[dict[str, Any], bytes]:
    try:
        if archive.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
            raise BackupError(f"{backup_path} has a manifest larger than a backup's manifest "
                              "can be; it is not a settlement store backup. Nothing was "
                              "restored.", backup_path)
        raw_manifest = archive.read(MANIFEST)
        manifest = json.loads(raw_manifest.decode("utf-8"))
        ok = (manifest.get("format") == FORMAT and isinstance(manifest.get("counts"), dict)
              and isinstance(manifest.get("format_version"), int)
              and isinstance(manifest.get("documents"), dict)
              and isinstance(manifest["database"]["sha256"], str)
              and all(DOCUMENT_ENTRY.match(str(e)) for e in manifest["documents"])
              and _size_or_none(manifest["database"].get("size_bytes"))
              and isinstance(manifest.get("document_sizes", {}), dict)
              and all(_size_or_none(s) for s in manifest.get("document_sizes", {}).values()))
    except (KeyError, TypeError, AttributeError, ValueError, zipfile.BadZipFile,
            zlib.error, EOFError) as error:
        raise BackupError(f"{backup_path} has no readable manifest ({error}); it is not a "
                          "settlement store backup, or it is damaged.", backup_path) from error
    if not ok:
        raise BackupError(f"{backup_path} is not a settlement store backup (its manifest "
                          "is not one this plugin writes).", backup_path)
    if manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(f"{backup_path} was made by a newer version of the plugin; "
                          "update the plugin to restore it.", backup_path)
    return manifest, raw_manifest


def _size_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool)
                             and value >= 0)


def _extract_checked(archive: zipfile.ZipFile, entry: str, destination: str, sha256: str,
                     size: int, backup_path: str) -> None:
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    digest = hashlib.sha256()
    try:
        with archive.open(entry) as source, open(destination, "xb") as target:
            written = _copy(source, target, digest, size)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise BackupError(f"{entry} in {backup_path} is damaged ({error}).",
                          backup_path) from error
    if written > size:
        raise BackupError(f"{entry} in {backup_path} holds more than the {size:,} bytes it "
                          "declares; extraction stopped there. Nothing was restored.",
                          backup_path)
    if digest.hexdigest() != sha256:
        raise BackupError(f"{entry} in {backup_path} does not match the SHA-256 of its "
                          "manifest: the backup was changed or damaged after it was made.",
                          backup_path)


def _copy(source: IO[bytes], target: IO[bytes], digest: Any, limit: int) -> int:
    """Copy and hash at most ``limit`` bytes; returns ``limit + 1`` if there was more."""
    written = 0
    while written <= limit:
        chunk = source.read(min(CHUNK, limit + 1 - written))
        if not chunk:
            break
        if written + len(chunk) > limit:
            return limit + 1  # one byte more than promised: nothing past it is written
        digest.update(chunk)
        target.write(chunk)
        written += len(chunk)
    target.flush()
    os.fsync(target.fileno())
    return written


def _check_database(database: str, manifest: dict[str, Any], backup_path: str) -> None:
    """The extracted store opens, is the store the manifest names, and holds its rows."""
    try:
        restored = SettlementStore.open(database, read_only=True, upgrade=False)
    except (StdmError, sqlite3.Error) as error:
        raise BackupError(f"The store in {backup_path} does not open: {error}",
                          backup_path) from error
    try:
        if restored.store_id != manifest.get("store_id"):
            raise BackupError(f"The store in {backup_path} is not the one its manifest names.",
                              backup_path)
        counts = table_counts(restored.db)
        if counts != manifest["counts"]:
            wrong = sorted(t for t in set(counts) | set(manifest["counts"])
                           if counts.get(t) != manifest["counts"].get(t))
            raise BackupError(f"The store in {backup_path} does not hold the rows its manifest "
                              f"counts ({', '.join(wrong)}).", backup_path)
        stored = restored.db.scalar(f"SELECT value FROM {INFO_TABLE} WHERE key = "
                                    "'schema_version'")
        if str(stored) != str(manifest.get("schema_version")):
            raise BackupError(f"The store in {backup_path} is not at the schema version its "
                              "manifest says.", backup_path)
    finally:
        restored.close()
