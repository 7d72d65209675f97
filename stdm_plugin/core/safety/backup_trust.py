"""Whether a backup is one this office made: its manifest's MAC, or an administrator's word.

The manifest holds the SHA-256 of every other entry, so a MAC of the
manifest's exact bytes (made with the store's backup key, backup_keys.py)
authenticates the whole backup. A restore checks it before anything is
extracted:

- a MAC made with the key held here that does not match: the backup was
  edited. Refused, always.
- no MAC (a backup made before backups were signed), or a store whose key
  this computer does not hold (a restore on another computer): the backup
  cannot be authenticated. Refused with UnverifiedBackupError, which says
  what to do: import the store's backup key, or have an administrator accept
  the backup.

An administrator's acceptance (Acceptance) is checked against the users of
the store in the backup, and recorded in the restored store's store_event.
Honest limit: someone who edits a backup can also make themselves an
administrator in it, so the acceptance does not prevent a forged restore; it
puts a named person's word and the backup's checksum on record. Importing
the backup key is what actually authenticates a backup.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import zipfile
from dataclasses import dataclass
from typing import Any

from ..settlement_store import SettlementStore
from ..store.errors import StdmError, StoreError
from ..store.history import record_store_event
from ..store.users import sign_in
from .backup_keys import (
    MAC_ALGORITHM,
    BackupKeyError,
    BackupKeyring,
    checked_store_id,
    key_id,
    manifest_mac,
)

MAC_ENTRY = "manifest.mac"
#: a MAC entry is 64 hex digits; a larger one is not read
MAX_MAC_BYTES = 1024
UNSIGNED = "unsigned"
UNKNOWN_KEY = "unknown_key"
ACCEPTED_EVENT = "unverified_backup_accepted"
ACCEPTING_ROLE = "administrator"


class BackupError(StoreError):
    """A backup that cannot be made or restored; nothing was left behind."""


class UnverifiedBackupError(BackupError):
    """A backup whose origin cannot be checked here; nothing was restored.

    ``reason`` is UNSIGNED (no MAC: made before backups were signed, or its
    MAC was removed) or UNKNOWN_KEY (this computer holds no key, or another
    key, for the store); ``store_id`` is the store the manifest names.
    """

    def __init__(self, message: str, path: str, reason: str, store_id: str) -> None:
        super().__init__(message, path)
        self.reason = reason
        self.store_id = store_id


@dataclass(frozen=True)
class Acceptance:
    """An administrator of the store in the backup accepts it although it is unverified."""

    login: str
    password: str | None
    note: str = ""


def signing_fields(key: bytes) -> dict[str, Any]:
    """What a signed manifest says about its MAC."""
    return {"authentication": {"algorithm": MAC_ALGORITHM, "key_id": key_id(key),
                               "entry": MAC_ENTRY}}


def authenticate(archive: zipfile.ZipFile, raw_manifest: bytes, manifest: dict[str, Any],
                 keyring: BackupKeyring, backup_path: str) -> str | None:
    """None when the MAC is right; UNSIGNED or UNKNOWN_KEY when it cannot be checked here.

    Raises BackupError when the MAC was made with the key held here and does not match.
    """
    try:
        store_id = checked_store_id(manifest.get("store_id"))
    except BackupKeyError as error:
        raise BackupError(f"{backup_path} is not a settlement store backup, or it is damaged "
                          f"({error}). Nothing was restored.", backup_path) from error
    key = keyring.key_for(store_id)
    signing = manifest.get("authentication")
    if MAC_ENTRY not in archive.namelist() or not isinstance(signing, dict):
        return UNSIGNED
    if signing.get("algorithm") != MAC_ALGORITHM:
        raise BackupError(f"{backup_path} is signed with {signing.get('algorithm')!r}, which "
                          "this version of the plugin does not know. Nothing was restored.",
                          backup_path)
    if key is None or signing.get("key_id") != key_id(key):
        return UNKNOWN_KEY
    info = archive.getinfo(MAC_ENTRY)
    mac = archive.read(MAC_ENTRY).strip() if info.file_size <= MAX_MAC_BYTES else b""
    if not hmac.compare_digest(mac, manifest_mac(key, raw_manifest).encode("ascii")):
        raise BackupError(f"{backup_path} was changed after it was made: its manifest does not "
                          "carry the signature of this store's backup key. Nothing was "
                          "restored.", backup_path)
    return None


def unverified_error(reason: str, manifest: dict[str, Any], keyring: BackupKeyring,
                     backup_path: str) -> UnverifiedBackupError:
    store_id = str(manifest.get("store_id"))
    if reason == UNSIGNED:
        why = ("it is not signed (it was made before backups were signed, or its signature "
               "was removed)")
        remedy = "An administrator of the store can accept it"
    else:
        held = keyring.key_for(store_id)
        made_with = (manifest.get("authentication") or {}).get("key_id")
        why = (f"it was signed with the backup key {made_with} of the store {store_id}, and "
               + ("this computer holds no backup key for that store" if held is None else
                  f"this computer holds another key for it ({key_id(held)})"))
        remedy = ("Import that store's backup key (exported on the computer that made the "
                  "backup), or an administrator of the store can accept it")
    return UnverifiedBackupError(
        f"{backup_path} cannot be authenticated: {why}. {remedy}; the acceptance is recorded "
        "in the restored store. Nothing was restored.", backup_path, reason, store_id)


def accept_backup(database: str, acceptance: Acceptance, reason: str,
                      manifest: dict[str, Any], backup_path: str) -> None:
    """Check the acceptance against the extracted store and record it there.

    ``database`` is the extracted copy, not yet in place: refusing leaves nothing.
    A store whose upgrade is due is upgraded here, so that it has store_event.
    """
    try:
        store = SettlementStore.open(database, actor=acceptance.login)
    except (StdmError, OSError) as error:
        raise BackupError(f"The store in {backup_path} does not open: {error}",
                          backup_path) from error
    try:
        signed_in = _signed_in(store, acceptance, backup_path)
        details = {"backup": os.path.basename(backup_path),
                   "backup_sha256": file_sha256(backup_path), "reason": reason,
                   "store_id": manifest.get("store_id"),
                   "created_at": manifest.get("created_at"),
                   "created_by": manifest.get("created_by"),
                   "note": acceptance.note, "signed_in": signed_in}
        with store.transaction():
            record_store_event(store.db, ACCEPTED_EVENT, acceptance.login, details)
    finally:
        store.close()


def _signed_in(store: SettlementStore, acceptance: Acceptance, backup_path: str) -> bool:
    """Sign the accepting person in; False for a store without users (nobody to sign in).

    A store without users is open to whoever uses it, so its backups (made before backups
    were signed) are accepted in the name given, recorded as not signed in.
    """
    if not acceptance.login.strip():
        raise BackupError("Give the login of the administrator who accepts the backup. "
                          "Nothing was restored.", backup_path)
    if store.users.count() == 0:
        return False
    try:
        user = sign_in(store, acceptance.login, acceptance.password)
    except StdmError as error:
        raise BackupError(f"The backup was not accepted: {error} Nothing was restored.",
                          backup_path) from error
    if user.role != ACCEPTING_ROLE:
        raise BackupError(f"{acceptance.login!r} is not an administrator of the store in "
                          f"{backup_path}: only an administrator can accept a backup that "
                          "cannot be authenticated. Nothing was restored.", backup_path)
    return True


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
