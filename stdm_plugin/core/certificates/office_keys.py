"""The office's signing keys: made, protected with a passphrase, unlocked to sign, retired.

An office key is an Ed25519 key pair. Its public part is in the store and in
the public key file verifiers get; its private part is in the store only
encrypted with a passphrase the land officers who issue know
(key_vault.py), so a copy of the store, a backup or a stolen laptop does not
let anyone sign. Issuing unlocks the key with the passphrase for the person
signed in on that connection (``store.signer``); nothing writes the
passphrase or the decrypted key anywhere.

Keys made before schema 9 kept the private part in the clear: they cannot
sign until an administrator protects them with a passphrase (and should be
replaced by a new key, since old copies of the store hold them in the clear).

A key is valid from its creation until it is retired: replaced by a new key,
or retired on its own (lost passphrase, a copy of the store gone missing).
Retired keys stay, so that what they signed while valid still verifies; a
certificate signed after its key was retired does not.
"""
from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..store.errors import ValidationError
from ..store.history import record_store_event
from ..store.schema import PROTECTED_KEY_PREFIX
from ..store.users import require_permission
from .key_vault import check_passphrase, is_protected, protect, unprotect
from .signing import OfficeKeyError, key_id_of, new_private_key, public_of, sign_bytes

if TYPE_CHECKING:
    from ..store.store import Store

REASON_CHARS = 500
NO_KEY = ("This office has no signing key yet: an administrator must create one before "
          "certificates can be issued.")


class OfficeKeyLockedError(OfficeKeyError):
    """Issuing needs the office key unlocked with its passphrase first."""


class UnprotectedKeyError(OfficeKeyError):
    """A key from before schema 9, whose private part is still in the clear."""


@dataclass(frozen=True)
class OfficeKey:
    """The public part of an office key and its life: who made it, when it was retired."""

    id: str
    office_name: str
    public_key: str  #: base64 of the 32 raw bytes
    created_at: str
    created_by: str
    retired_at: str | None = None
    algorithm: str = "ed25519"
    retired_by: str | None = None
    retired_reason: str | None = None

    def valid_on(self, when: str) -> bool:
        """Was the key in use at ``when`` (an ISO timestamp, or a date for a whole day)?"""
        size = len(when)
        if not self.created_at or when < self.created_at[:size]:
            return False
        return self.retired_at is None or when <= self.retired_at[:size]

    def validity(self) -> str:
        """'from 2026-01-04' or 'from 2026-01-04 to 2026-11-30', for people."""
        start = f"from {self.created_at[:10]}"
        return f"{start} to {self.retired_at[:10]}" if self.retired_at else start


@dataclass(frozen=True)
class UnlockedKey:
    """An office key opened with its passphrase, for the person who opened it."""

    key: OfficeKey
    unlocked_by: str
    _private: bytes = field(repr=False)

    def sign(self, message: bytes) -> bytes:
        return sign_bytes(self._private, message)


_KEY_COLUMNS = ("id, office_name, public_key, created_at, created_by, retired_at, algorithm, "
                "retired_by, retired_reason")


def _key(row: dict[str, Any] | None) -> OfficeKey | None:
    return None if row is None else OfficeKey(**row)


def active_office_key(store: "Store") -> OfficeKey | None:
    return _key(store.db.query_one(
        f"SELECT {_KEY_COLUMNS} FROM office_key WHERE retired_at IS NULL "
        "ORDER BY created_at DESC, id LIMIT 1"))


def office_key(store: "Store", key_id: str) -> OfficeKey | None:
    return _key(store.db.query_one(f"SELECT {_KEY_COLUMNS} FROM office_key WHERE id = ?",
                                   (key_id,)))


def office_keys(store: "Store") -> list[OfficeKey]:
    """Every key the office ever signed with, oldest first."""
    return [OfficeKey(**r) for r in store.db.query(
        f"SELECT {_KEY_COLUMNS} FROM office_key ORDER BY created_at, id")]


def key_is_protected(store: "Store", key_id: str) -> bool:
    """True when the key's private part is encrypted (False: in the clear, or not here)."""
    return is_protected(store.db.scalar("SELECT private_key FROM office_key WHERE id = ?",
                                        (key_id,)))


def export_public_keys(store: "Store", path: str | None = None) -> str:
    """The public keys and their validity as JSON (for checking certificates offline)."""
    text = json.dumps({"store_id": store.store_id,
                       "keys": [asdict(k) for k in office_keys(store)]},
                      indent=2, ensure_ascii=False, sort_keys=True)
    if path is not None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return text


def create_office_key(store: "Store", office_name: str, passphrase: str) -> OfficeKey:
    """Make the office's new signing key, kept under ``passphrase``; the key in use until
    now is retired (its certificates still verify)."""
    from ..store.store import utc_now

    user = require_permission(store, "manage_keys")
    name = (office_name or "").strip()
    if not name:
        raise ValidationError("Name the office the key signs for", table="office_key",
                              field="office_name")
    check_passphrase(passphrase)
    private_raw = new_private_key()
    public_raw = public_of(private_raw)
    key_id = key_id_of(public_raw)
    login = user.login if user else store.actor
    now = utc_now()
    with store.transaction():
        store.db.lock_numbering("office_key")
        store.db.execute(
            "UPDATE office_key SET retired_at = ?, retired_by = ?, retired_reason = ? "
            "WHERE retired_at IS NULL", (now, login, f"replaced by key {key_id}"))
        store.db.execute(
            "INSERT INTO office_key (id, office_name, algorithm, public_key, private_key, "
            "created_at, created_by) VALUES (?, ?, 'ed25519', ?, ?, ?, ?)",
            (key_id, name, base64.b64encode(public_raw).decode("ascii"),
             protect(private_raw, passphrase), now, login))
        record_store_event(store.db, "key_created", store.actor,
                           {"key_id": key_id, "office_name": name})
    return office_key(store, key_id)  # type: ignore[return-value]


def protect_office_key(store: "Store", passphrase: str) -> OfficeKey:
    """Encrypt the key in use, kept in the clear by schemas 5 to 8, under ``passphrase``;
    retired keys still in the clear lose their private part (they sign nothing more)."""
    require_permission(store, "manage_keys")
    check_passphrase(passphrase)
    if store.db.dialect == "spatialite":  # the clear text is overwritten, not just unlinked
        store.db.execute("PRAGMA secure_delete = ON")
    with store.transaction():
        store.db.lock_numbering("office_key")
        key = active_office_key(store)
        if key is None:
            raise OfficeKeyError("This office has no key in use to protect.")
        stored = store.db.scalar("SELECT private_key FROM office_key WHERE id = ?", (key.id,))
        if is_protected(stored):
            raise OfficeKeyError(f"The office key {key.id} is already protected by a "
                                 "passphrase.")
        if not stored:
            raise OfficeKeyError(f"The private part of key {key.id} is not in this store "
                                 "(it was left out of the backup it came from): create a "
                                 "new key.")
        private_raw = _clear_private(stored, key)
        store.db.execute("UPDATE office_key SET private_key = ? WHERE id = ?",
                         (protect(private_raw, passphrase), key.id))
        erased = [r["id"] for r in store.db.query(
            "SELECT id FROM office_key WHERE retired_at IS NOT NULL AND private_key <> '' "
            "AND substr(private_key, 1, ?) <> ? ORDER BY id",
            (len(PROTECTED_KEY_PREFIX), PROTECTED_KEY_PREFIX))]
        for key_id in erased:
            store.db.execute("UPDATE office_key SET private_key = '' WHERE id = ?", (key_id,))
        record_store_event(store.db, "key_protected", store.actor,
                           {"key_id": key.id, "retired_keys_erased": erased})
    return key


def retire_office_key(store: "Store", key_id: str, reason: str) -> OfficeKey:
    """Stop signing with a key (a lost passphrase, a store copy gone missing); what it
    signed until now still verifies. Certificates need a new key afterwards."""
    from ..store.store import utc_now

    user = require_permission(store, "manage_keys")
    why = (reason or "").strip()
    if not why or len(why) > REASON_CHARS:
        raise ValidationError(f"Say why the key is retired (at most {REASON_CHARS} "
                              "characters)", table="office_key", field="retired_reason")
    with store.transaction():
        store.db.lock_numbering("office_key")
        key = office_key(store, key_id)
        if key is None:
            raise OfficeKeyError(f"The office key {key_id} is not in this store.")
        if key.retired_at:
            raise OfficeKeyError(f"The office key {key_id} was already retired on "
                                 f"{key.retired_at[:10]}.")
        login = user.login if user else store.actor
        store.db.execute("UPDATE office_key SET retired_at = ?, retired_by = ?, "
                         "retired_reason = ? WHERE id = ?", (utc_now(), login, why, key_id))
        record_store_event(store.db, "key_retired", store.actor,
                           {"key_id": key_id, "reason": why})
    return office_key(store, key_id)  # type: ignore[return-value]


def unlock_office_key(store: "Store", passphrase: str) -> UnlockedKey:
    """Open the key in use with its passphrase for the person signed in, who may issue;
    ``store.signer`` keeps it for this connection. A wrong passphrase raises
    WrongPassphraseError (key_vault.py)."""
    user = require_permission(store, "issue")
    key = active_office_key(store)
    if key is None:
        raise OfficeKeyError(NO_KEY)
    stored = store.db.scalar("SELECT private_key FROM office_key WHERE id = ?", (key.id,))
    if not stored:
        raise OfficeKeyError(f"The private part of key {key.id} is not in this store (a "
                             "backup leaves out a key that was not protected): an "
                             "administrator must create a new key.")
    if not is_protected(stored):
        raise UnprotectedKeyError(
            f"The office key {key.id} is kept in the store without a passphrase, so any copy "
            "of the store could sign certificates. An administrator must protect it with a "
            "passphrase (Office signing key) before certificates can be issued.")
    private_raw = unprotect(stored, passphrase)
    if len(private_raw) != 32 or not _belongs(private_raw, key):
        raise OfficeKeyError(f"The private part of office key {key.id} does not belong to "
                             "its public key: the store was edited.")
    unlocked = UnlockedKey(key, user.login if user else store.actor, private_raw)
    store.signer = unlocked
    return unlocked


def signer_for(store: "Store") -> UnlockedKey:
    """The unlocked key to sign with now, for the person signed in; refused otherwise."""
    key = active_office_key(store)
    if key is None:
        raise OfficeKeyError(NO_KEY)
    signer, user = store.signer, store.user
    if signer is None or signer.unlocked_by != (user.login if user else store.actor):
        raise OfficeKeyLockedError("The office key is locked: enter its passphrase to issue "
                                   "certificates.")
    if key.id != signer.key.id:
        raise OfficeKeyLockedError("The office key was replaced or retired since it was "
                                   "unlocked: unlock the key in use with its passphrase.")
    return signer


def _clear_private(stored: str, key: OfficeKey) -> bytes:
    try:
        raw = base64.b64decode(stored, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32 or not _belongs(raw, key):
        raise OfficeKeyError(f"The private part of key {key.id} is damaged or does not "
                             "belong to its public key: the store was edited.")
    return raw


def _belongs(private_raw: bytes, key: OfficeKey) -> bool:
    return public_of(private_raw) == base64.b64decode(key.public_key)

