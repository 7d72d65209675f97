"""The office key at rest (issue #14, point 8): encrypted with a passphrase, unlocked only by
who may issue, protected or lost when it was in the clear, retired with who and why, and
checks that say whether the key was in use on the day a certificate was issued; on both
backends, with the database rules that keep all of it."""
from __future__ import annotations

import base64
import json
import os

import pytest
from certificate_samples import (
    KEY_PASSPHRASE,
    PASSWORD,
    TODAY,
    FakeRender,
    approved_parcels_for_test,
    as_user,
    with_people,
)
from package_samples import cut, small_world

from stdm_plugin.core import SettlementStore, ValidationError
from stdm_plugin.core.certificates.certificates import find_certificate, issue_certificate
from stdm_plugin.core.certificates.key_vault import (
    KeyFormatError,
    WrongPassphraseError,
    is_protected,
    protect,
    unprotect,
)
from stdm_plugin.core.certificates.office_keys import (
    UnprotectedKeyError,
    active_office_key,
    export_public_keys,
    office_keys,
    protect_office_key,
    retire_office_key,
    unlock_office_key,
)
from stdm_plugin.core.certificates.signing import (
    OfficeKeyError,
    key_id_of,
    payload_of,
    sign,
    signed_message,
)
from stdm_plugin.core.certificates.verification import verify_offline, verify_payload
from stdm_plugin.core.packages.field_package import PACKAGE_STORE
from stdm_plugin.core.store.errors import PermissionDeniedError
from stdm_plugin.core.store.users import sign_in

SECRET = bytes(range(32))


@pytest.fixture
def out(tmp_path):
    return str(tmp_path / "certificates")


# --- the vault, without a store ------------------------------------------------------------
def test_a_protected_secret_opens_only_with_its_passphrase():
    stored = protect(SECRET, KEY_PASSPHRASE)
    assert is_protected(stored) and stored.startswith("stdm-key1:scrypt:32768:8:1:")
    assert SECRET.hex() not in stored and base64.b64encode(SECRET).decode() not in stored
    assert unprotect(stored, KEY_PASSPHRASE) == SECRET
    assert protect(SECRET, KEY_PASSPHRASE) != stored  # a new salt and nonce each time
    with pytest.raises(WrongPassphraseError, match="does not open"):
        unprotect(stored, KEY_PASSPHRASE + " ")
    with pytest.raises(ValidationError, match="at least 10 characters"):
        protect(SECRET, "too short")
    with pytest.raises(ValidationError, match="at least 10 characters"):
        protect(SECRET, "          x")  # spaces do not count


def test_a_passphrase_is_the_same_however_its_accents_were_typed():
    composed, decomposed = "clé du bureau foncier", "cle\u0301 du bureau foncier"
    assert unprotect(protect(SECRET, composed), decomposed) == SECRET


@pytest.mark.parametrize("part", range(5, 9))
def test_any_changed_part_of_the_stored_key_is_refused(part):
    """Salt, nonce, ciphertext or tag: one character changed and nothing is decrypted."""
    stored = protect(SECRET, KEY_PASSPHRASE)
    pieces = stored[len("stdm-key1:"):].split(":")
    piece = pieces[part - 1]
    pieces[part - 1] = ("B" if piece[0] != "B" else "C") + piece[1:]
    with pytest.raises((WrongPassphraseError, KeyFormatError)):
        unprotect("stdm-key1:" + ":".join(pieces), KEY_PASSPHRASE)


@pytest.mark.parametrize("header, says", [
    ("stdm-key1:scrypt:16777216:8:1", "cost"),  # a 16 GiB derivation
    ("stdm-key1:scrypt:1073741824:8:1", "damaged"),
    ("stdm-key1:scrypt:32768:64:64", "cost"),
    ("stdm-key1:scrypt:1000:8:1", "cost"),  # not a power of two
    ("stdm-key1:scrypt:32768:8:x", "damaged"),
    ("stdm-key1:pbkdf2:32768:8:1", "not an encrypted key"),
])
def test_an_edited_key_derivation_is_refused_before_any_work(header, says):
    stored = protect(SECRET, KEY_PASSPHRASE)
    rest = stored.split(":")[5:]
    with pytest.raises(KeyFormatError, match=says):
        unprotect(":".join([header, *rest]), KEY_PASSPHRASE)
    with pytest.raises(KeyFormatError):
        unprotect(base64.b64encode(SECRET).decode(), KEY_PASSPHRASE)  # the clear form


# --- keys in a store -----------------------------------------------------------------------
def test_the_private_key_is_never_in_the_clear(store, tmp_path):
    with_people(store)
    stored = store.db.scalar("SELECT private_key FROM office_key")
    assert is_protected(stored)
    assert unprotect(stored, KEY_PASSPHRASE) == store.signer._private
    raw_b64 = base64.b64encode(store.signer._private).decode()
    assert raw_b64 not in export_public_keys(store) and "private" not in export_public_keys(store)
    assert raw_b64 not in repr(store.signer) and KEY_PASSPHRASE not in repr(store.signer)
    events = store.db.query("SELECT event, happened_by, details FROM store_event")
    assert [(e["event"], e["happened_by"]) for e in events] == [("key_created", "admin")]
    assert KEY_PASSPHRASE not in json.dumps(events)


def test_a_field_package_carries_no_office_key(store, tmp_path):
    with_people(store)
    as_user(store, "admin")
    small_world(store)
    folder = cut(store, tmp_path / "package", blocks=["B1"])
    with SettlementStore.open(os.path.join(folder, PACKAGE_STORE), read_only=True) as package:
        assert package.db.scalar("SELECT count(*) FROM office_key") == 0


def test_only_who_may_issue_unlocks_and_only_with_the_passphrase(store):
    with_people(store)
    for login in ("enum", "sup"):
        as_user(store, login)
        with pytest.raises(PermissionDeniedError):
            unlock_office_key(store, KEY_PASSPHRASE)
    as_user(store, "officer")
    with pytest.raises(WrongPassphraseError):
        unlock_office_key(store, "battery staple office kez")
    assert unlock_office_key(store, KEY_PASSPHRASE).unlocked_by == "officer"


def test_a_key_unlocked_by_one_officer_does_not_sign_for_another(store, out):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    as_user(store, "admin")
    store.users.create("officer2", "Other Officer", "land_officer", PASSWORD)
    as_user(store, "officer2")  # store.signer is still the first officer's
    with pytest.raises(OfficeKeyError, match="enter its passphrase"):
        issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)


def _clear_key(store, *, retired: bool = False) -> str:
    """A key as schemas 5 to 8 wrote it: its private part in base64, in the clear."""
    from stdm_plugin.core.certificates import ed25519
    from stdm_plugin.core.store.store import utc_now

    private_raw = ed25519.generate_private_key()
    public_raw = ed25519.public_key(private_raw)
    with store.transaction():
        store.db.execute(
            "INSERT INTO office_key (id, office_name, algorithm, public_key, private_key, "
            "created_at, created_by, retired_at) VALUES (?, 'Old office', 'ed25519', ?, ?, ?, "
            "'admin', ?)",
            (key_id_of(public_raw), base64.b64encode(public_raw).decode(),
             base64.b64encode(private_raw).decode(), utc_now(), utc_now() if retired else None))
    return key_id_of(public_raw)


def test_a_key_kept_in_the_clear_signs_only_once_an_administrator_protects_it(store, out):
    store.users.create("admin", "Ama Administrator", "administrator", PASSWORD)
    sign_in(store, "admin", PASSWORD)
    store.users.create("officer", "Aïcha Traoré", "land_officer", PASSWORD)
    store.users.create("sup", "Serge Supervisor", "supervisor", PASSWORD)
    old = _clear_key(store, retired=True)
    current = _clear_key(store)
    clear_texts = [r["private_key"] for r in store.db.query("SELECT private_key FROM office_key")]
    as_user(store, "officer")
    [unit] = approved_parcels_for_test(store, 1)
    with pytest.raises(UnprotectedKeyError, match="without a passphrase"):
        unlock_office_key(store, KEY_PASSPHRASE)
    with pytest.raises(PermissionDeniedError):
        protect_office_key(store, KEY_PASSPHRASE)
    as_user(store, "admin")
    if store.db.dialect == "spatialite":  # as SQLite builds without SECURE_DELETE start
        store.db.execute("PRAGMA secure_delete = OFF")
    with pytest.raises(ValidationError, match="at least"):
        protect_office_key(store, "short")
    assert protect_office_key(store, KEY_PASSPHRASE).id == current
    stored = dict((r["id"], r["private_key"]) for r in store.db.query(
        "SELECT id, private_key FROM office_key"))
    assert is_protected(stored[current]) and stored[old] == ""  # a retired key signs nothing
    with pytest.raises(OfficeKeyError, match="already protected"):
        protect_office_key(store, KEY_PASSPHRASE)
    [event] = store.db.query("SELECT details FROM store_event WHERE event = 'key_protected'")
    assert json.loads(event["details"]) == {"key_id": current, "retired_keys_erased": [old]}
    as_user(store, "officer")
    unlock_office_key(store, KEY_PASSPHRASE)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    assert verify_payload(store, issued.qr_payload).status == "valid"
    if store.db.dialect == "spatialite":  # the clear text is gone from the file's bytes too
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = open(store.path, "rb").read()
        assert clear_texts and not any(text.encode() in data for text in clear_texts)


def test_the_database_keeps_a_key_and_its_retirement(store):
    with_people(store)
    key = active_office_key(store)
    clear = base64.b64encode(SECRET).decode()
    refused = [
        ("UPDATE office_key SET private_key = ? WHERE id = ?", (clear, key.id)),  # unprotect
        ("UPDATE office_key SET private_key = ? WHERE id = ?",
         (protect(SECRET, "another passphrase"), key.id)),  # swap for one the thief knows
        ("UPDATE office_key SET private_key = '' WHERE id = ?", (key.id,)),
        ("UPDATE office_key SET office_name = 'Rogue' WHERE id = ?", (key.id,)),
        ("UPDATE office_key SET created_at = '2000-01-01' WHERE id = ?", (key.id,)),
        ("DELETE FROM office_key WHERE id = ?", (key.id,)),
    ]
    for sql, params in refused:
        with pytest.raises(ValidationError, match="only retired"):
            with store.transaction():
                store.db.execute(sql, params)
    as_user(store, "admin")
    retire_office_key(store, key.id, "the laptop with the store was stolen")
    for sql in ("UPDATE office_key SET retired_at = NULL WHERE id = ?",
                "UPDATE office_key SET retired_at = '2099-01-01' WHERE id = ?",
                "UPDATE office_key SET retired_reason = 'routine' WHERE id = ?"):
        with pytest.raises(ValidationError, match="stays retired"):
            with store.transaction():
                store.db.execute(sql, (key.id,))
    assert office_keys(store)[0].retired_reason == "the laptop with the store was stolen"


def test_retiring_a_key_stops_issuing_and_keeps_what_it_signed(store, out):
    with_people(store)
    [unit, other] = approved_parcels_for_test(store, 2)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    key = active_office_key(store)
    with pytest.raises(PermissionDeniedError):
        retire_office_key(store, key.id, "officers may not")
    as_user(store, "admin")
    with pytest.raises(ValidationError, match="Say why"):
        retire_office_key(store, key.id, "  ")
    retired = retire_office_key(store, key.id, "passphrase lost")
    assert retired.retired_by == "admin" and retired.retired_at >= key.created_at
    with pytest.raises(OfficeKeyError, match="already retired"):
        retire_office_key(store, key.id, "again")
    as_user(store, "officer")
    with pytest.raises(OfficeKeyError, match="no signing key yet"):
        issue_certificate(store, other.id, FakeRender(), out, today=TODAY)
    checked = verify_payload(store, issued.qr_payload)
    assert checked.status == "valid" and checked.key.id == key.id
    assert checked.issued_on == find_certificate(store, issued.number).issued_at[:10]
    [event] = store.db.query("SELECT happened_by, details FROM store_event "
                             "WHERE event = 'key_retired'")
    assert event["happened_by"] == "admin"
    assert json.loads(event["details"]) == {"key_id": key.id, "reason": "passphrase lost"}


# --- was the key in use that day? ----------------------------------------------------------
def test_offline_check_names_the_key_and_whether_it_was_in_use(store, out):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    cert = find_certificate(store, issued.number)
    day = cert.issued_at[:10]
    keys = office_keys(store)
    genuine = verify_offline(keys, issued.qr_payload)
    assert genuine.status == "signed" and genuine.key.id == cert.key_id
    assert genuine.issued_on == day and "revoked or superseded" in genuine.details
    thief = store.signer  # what someone holding the old key and its passphrase has
    as_user(store, "admin")
    retire_office_key(store, cert.key_id, "passphrase written on a whiteboard")
    keys = office_keys(store)
    _, after = sign(thief, "KOU-2026-000099", cert.snapshot_sha256, "2099-01-01")
    _, before = sign(thief, "KOU-2026-000098", cert.snapshot_sha256, "2000-01-01")
    for payload in (after, before):
        checked = verify_offline(keys, payload)
        assert checked.status == "forged" and checked.reason == "key_not_valid", payload
        assert "was not in use" in checked.details
    # backdated into the key's period it passes offline (a date is no proof of time);
    # the register still tells
    _, backdated = sign(thief, "KOU-2026-000097", cert.snapshot_sha256, day)
    assert verify_offline(keys, backdated).status == "signed"
    assert verify_payload(store, backdated).reason == "not_in_register"
    # the genuine one still passes, and its key's period is the one exported
    assert verify_offline(keys, issued.qr_payload).status == "signed"
    exported = json.loads(export_public_keys(store))["keys"][0]
    assert exported["retired_reason"] == "passphrase written on a whiteboard"


def test_codes_without_a_date_still_verify_and_say_so(store, out):
    """Certificates issued before the date was in the code (payload STDM1)."""
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    cert = find_certificate(store, issued.number)
    message = signed_message(cert.number, cert.snapshot_sha256, cert.key_id, None)
    signature = base64.urlsafe_b64encode(store.signer.sign(message.encode())).rstrip(b"=")
    old_style = payload_of(cert.number, cert.snapshot_sha256, cert.key_id,
                           signature.decode(), None)
    assert old_style.startswith("STDM1|") and old_style.count("|") == 4
    checked = verify_offline(office_keys(store), old_style)
    assert checked.status == "signed" and checked.issued_on is None
    assert "carries no issue date" in checked.details
    assert verify_payload(store, old_style).status == "valid"
