"""Backups edited the way an attacker would: the store inside changed, the manifest's
checksums, sizes and counts recomputed to match, the zip written again."""
from __future__ import annotations

import hashlib
import json
import pathlib
import sqlite3
import tempfile
import zipfile
from typing import Callable

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.safety.backup import DATABASE, MANIFEST, table_counts
from stdm_plugin.core.safety.backup_keys import manifest_mac
from stdm_plugin.core.safety.backup_trust import MAC_ENTRY
from stdm_plugin.core.store.users import hash_password

#: what to do with manifest.mac: keep the old one, drop it, or (bytes) a MAC with that key
KEEP, DROP = "keep", "drop"


def add_administrator(con: sqlite3.Connection, login: str = "intruder",
                      password: str = "taken-over") -> None:
    """The attack's edit: one more administrator, with a password the attacker knows."""
    con.execute("INSERT INTO app_user (login, full_name, role, password_hash) "
                "VALUES (?, 'Someone', 'administrator', ?)", (login, hash_password(password)))


def forged(backup: pathlib.Path, out: pathlib.Path,
           edit: Callable[[sqlite3.Connection], None] | None,
           mac: str | bytes = KEEP,
           edit_manifest: Callable[[dict], None] | None = None) -> pathlib.Path:
    """``backup`` with its store edited by ``edit`` and a manifest recomputed to match."""
    with zipfile.ZipFile(backup) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    manifest = json.loads(entries[MANIFEST])
    if edit is not None:
        with tempfile.TemporaryDirectory() as work:
            database = pathlib.Path(work) / DATABASE
            database.write_bytes(entries[DATABASE])
            con = sqlite3.connect(database)
            with con:
                edit(con)
            con.close()
            with SettlementStore.open(database, read_only=True, upgrade=False) as copy:
                manifest["counts"] = table_counts(copy.db)
            entries[DATABASE] = database.read_bytes()
        manifest["database"]["sha256"] = hashlib.sha256(entries[DATABASE]).hexdigest()
        manifest["database"]["size_bytes"] = len(entries[DATABASE])
    if edit_manifest is not None:
        edit_manifest(manifest)
    entries[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    if mac == DROP:
        entries.pop(MAC_ENTRY, None)
    elif isinstance(mac, bytes):
        entries[MAC_ENTRY] = manifest_mac(mac, entries[MANIFEST]).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)
    return out


def made_before_signing(backup: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    """``backup`` as the plugin wrote backups before they were signed (format 1)."""
    def older(manifest: dict) -> None:
        manifest["format_version"] = 1
        manifest.pop("authentication", None)

    return forged(backup, out, None, DROP, older)
