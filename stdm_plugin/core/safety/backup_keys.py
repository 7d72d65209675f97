"""Backup keys: one secret per store, kept on the office's computer, never in a backup.

A backup's manifest lists the SHA-256 of everything in it, but anyone who
edits a backup can recompute those. What they cannot recompute is a MAC
made with a key they do not hold, so each store gets a random 32-byte
backup key in a keyring folder outside the store (and outside its backups):
``<store id>.key``, readable by its owner only, written once and never
replaced. A backup carries the MAC of its manifest and the key's id (a
prefix of the key's SHA-256, which says which key without revealing it).

To restore on another computer, export the key (a small JSON file to keep
on a USB stick in a safe or in a password manager) and import it there.
Whoever holds the key can make backups this plugin trusts: keep it apart
from the backups themselves.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

from ..store.errors import StoreError
from ..store.store import utc_now

KEY_FORMAT = "stdm-backup-key"
KEY_FORMAT_VERSION = 1
KEY_BYTES = 32
MAC_ALGORITHM = "HMAC-SHA256"
#: a store id becomes a file name: letters, digits and dashes only (store ids are UUIDs)
STORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
#: a key file is a few hundred bytes; anything much larger is not one
MAX_KEY_FILE_BYTES = 64 << 10
#: where core callers without QGIS keep their keys, unless STDM_KEYRING says otherwise
KEYRING_VARIABLE = "STDM_KEYRING"


class BackupKeyError(StoreError):
    """A backup key that cannot be read, written, exported or imported."""


def default_keyring_folder() -> Path:
    """``$STDM_KEYRING`` when set, else ``~/.stdm/keyring``."""
    configured = os.environ.get(KEYRING_VARIABLE)
    return Path(configured) if configured else Path.home() / ".stdm" / "keyring"


def key_id(key: bytes) -> str:
    """Names a key without revealing it: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def manifest_mac(key: bytes, manifest: bytes) -> str:
    """The HMAC-SHA256 of a manifest's exact bytes, in hex."""
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


class BackupKeyring:
    """A folder of backup keys, one per store id."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    @classmethod
    def default(cls) -> "BackupKeyring":
        return cls(default_keyring_folder())

    def path_of(self, store_id: str) -> Path:
        return self.folder / f"{checked_store_id(store_id)}.key"

    def key_for(self, store_id: str, create: bool = False) -> bytes | None:
        """The store's key; a new random one when there is none and ``create`` is set."""
        path = self.path_of(store_id)
        if path.exists():
            return _parse_key_file(_read_key_file(path), str(path), store_id)
        if not create:
            return None
        return self._write(store_id, secrets.token_bytes(KEY_BYTES))

    def export_key(self, store_id: str, path: str | os.PathLike) -> Path:
        """Write the store's key to ``path`` (a new file) for safe keeping elsewhere."""
        key = self.key_for(store_id)
        if key is None:
            raise BackupKeyError(f"This computer holds no backup key for the store {store_id} "
                                 f"(keyring {self.folder}); it is made by the store's first "
                                 "backup here.", str(path))
        target = Path(path)
        try:
            _write_new(target, _key_file_text(store_id, key))
        except FileExistsError as error:
            raise BackupKeyError(f"{target} already exists; choose a new name for the key "
                                 "file.", str(target)) from error
        except OSError as error:
            raise BackupKeyError(f"The backup key could not be written to {target}: {error}",
                                 str(target)) from error
        return target

    def import_key(self, path: str | os.PathLike) -> str:
        """Add the key in an exported key file; returns its store id.

        The same key again changes nothing; a different key for a store that
        already has one is refused (backups made with the one held here would
        no longer be trusted).
        """
        text = _read_key_file(Path(path))
        store_id = _store_id_in(text, str(path))
        key = _parse_key_file(text, str(path), store_id)
        held = self.key_for(store_id)
        if held is not None and not hmac.compare_digest(held, key):
            raise BackupKeyError(
                f"This computer already holds a different backup key for the store {store_id} "
                f"(key id {key_id(held)}; the file holds key id {key_id(key)}). Nothing was "
                "changed: backups made here are checked with the key held here.", str(path))
        if held is None:
            self._write(store_id, key)
        return store_id

    def _write(self, store_id: str, key: bytes) -> bytes:
        path = self.path_of(store_id)
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_new(path, _key_file_text(store_id, key))
        except FileExistsError:  # made meanwhile by another backup: that one holds
            return self.key_for(store_id)  # type: ignore[return-value]
        except OSError as error:
            raise BackupKeyError(f"The backup key could not be written to {path}: {error}",
                                 str(path)) from error
        return key


def checked_store_id(store_id: object) -> str:
    if not isinstance(store_id, str) or not STORE_ID.match(store_id):
        raise BackupKeyError(f"{store_id!r} is not a store id.")
    return store_id


def _key_file_text(store_id: str, key: bytes) -> str:
    return json.dumps({"format": KEY_FORMAT, "format_version": KEY_FORMAT_VERSION,
                       "store_id": store_id, "key_id": key_id(key),
                       "key": base64.b64encode(key).decode("ascii"),
                       "created_at": utc_now()}, indent=2) + "\n"


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all, readable by its owner only; never replaces a file
    (FileExistsError)."""
    if path.exists():
        raise FileExistsError(str(path))
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial",
                                   dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name == "nt":
            os.rename(partial, path)  # atomic; on Windows it refuses an existing target
            return
        try:
            os.link(partial, path)  # atomic, and refuses an existing target
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (a FAT USB stick)
            _write_exclusive(path, text)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _write_exclusive(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.remove(path)  # ours (O_EXCL made it): no half-written key file is left
        raise


def _read_key_file(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise BackupKeyError(f"{path} is not a backup key file (it is far too large).",
                                 str(path))
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BackupKeyError(f"The backup key file {path} cannot be read: {error}",
                             str(path)) from error


def _store_id_in(text: str, path: str) -> str:
    fields = _fields(text, path)
    try:
        return checked_store_id(fields.get("store_id"))
    except BackupKeyError as error:
        raise _malformed(path, "its store id is missing or not a store id") from error


def _parse_key_file(text: str, path: str, store_id: str) -> bytes:
    fields = _fields(text, path)
    if fields.get("store_id") != store_id:
        raise _malformed(path, f"it is the key of another store ({fields.get('store_id')!r})")
    try:
        key = base64.b64decode(str(fields.get("key", "")), validate=True)
    except (binascii.Error, ValueError) as error:
        raise _malformed(path, "its key is not base64") from error
    if len(key) != KEY_BYTES:
        raise _malformed(path, f"its key is {len(key)} bytes long, not {KEY_BYTES}")
    if "key_id" in fields and fields["key_id"] != key_id(key):
        raise _malformed(path, "its key does not match its key id (it was edited or damaged)")
    return key


def _fields(text: str, path: str) -> dict:
    try:
        fields = json.loads(text)
    except ValueError as error:
        raise _malformed(path, "it is not JSON") from error
    if not isinstance(fields, dict) or fields.get("format") != KEY_FORMAT:
        raise _malformed(path, f"its format is not {KEY_FORMAT!r}")
    if not isinstance(fields.get("format_version"), int) or (
            fields["format_version"] > KEY_FORMAT_VERSION):
        raise _malformed(path, "it was written by a newer version of the plugin, or its "
                               "format version is missing")
    return fields


def _malformed(path: str, why: str) -> BackupKeyError:
    return BackupKeyError(f"{path} is not a usable STDM backup key file: {why}. Nothing was "
                          "imported.", path)
