"""Backup and restore: a backup restores to the same store, or is refused and leaves nothing."""
import hashlib
import json
import os
import pathlib
import re
import threading
import zipfile

import pytest
from backup_samples import DROP, add_administrator, forged, made_before_signing
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.safety.backup import (
    DATABASE,
    MANIFEST,
    Acceptance,
    BackupError,
    UnverifiedBackupError,
    backup_store,
    restore_store,
    table_counts,
)
from stdm_plugin.core.safety.backup_keys import (
    BackupKeyError,
    BackupKeyring,
    key_id,
    manifest_mac,
)
from stdm_plugin.core.safety.backup_trust import ACCEPTED_EVENT, MAC_ENTRY
from stdm_plugin.core.safety.consistency import check_store
from stdm_plugin.core.store.errors import StoreExistsError
from stdm_plugin.core.store.schema import PROTECTED_KEY_PREFIX
from stdm_plugin.core.store.users import sign_in

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"
JPEG = b"\xff\xd8\xff\xe0" + b"photo of the house" * 50


@pytest.fixture
def local_store(tmp_path):
    """A SpatiaLite store with a household, a shared parcel and documents of both kinds."""
    folder = tmp_path / "stores"
    folder.mkdir()
    store = SettlementStore.create(folder / "koumassi.sqlite", 32630, actor="tester")
    site = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))
    parcel = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=site.id,
                                                 boundary=box(400000, 590000, 400020, 590015)))
    household = store.parties.add(Party(party_type="household", group_name="Famille Koné"))
    awa = store.parties.add(Party(first_name="Awa", last_name="Koné",
                                  group_party_id=household.id))
    tenure = store.tenure.add(SocialTenure(party_id=awa.id, spatial_unit_id=parcel.id,
                                           tenure_type="co_owner", share_numerator=1,
                                           share_denominator=2))
    store.parties.update(awa.id, phone="0700000000")  # some history
    photo = store.documents.attach(JPEG, "maison.jpg", document_type="photo",
                                   spatial_unit_id=parcel.id)
    form = store.documents.attach(b"%PDF-1.7 signed", "form.pdf", document_type="signed_form",
                                  social_tenure_id=tenure.id, storage="folder")
    store.info = {"awa": awa, "parcel": parcel, "tenure": tenure, "photo": photo, "form": form}
    yield store
    store.close()


@pytest.fixture
def backups(tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    return folder


@pytest.fixture
def restored_dir(tmp_path):
    folder = tmp_path / "restored"
    folder.mkdir()
    return folder


def rewritten(backup, out, change):
    """A copy of ``backup`` with entries replaced (``change`` maps name -> new bytes)."""
    with zipfile.ZipFile(backup) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, change(name, data) if callable(change) else
                            change.get(name, data))
    return out


def edited_manifest(backup, out, edit, store_id):
    """The manifest edited and signed again with the store's key: what the checks behind
    the signature still refuse, should someone hold the key."""
    key = BackupKeyring.default().key_for(store_id)
    return forged(backup, out, None, key, edit)


def test_round_trip_gives_back_the_same_store(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)
    assert re.fullmatch(r"koumassi-backup-\d{8}T\d{6}Z\.zip", made.name)
    assert os.listdir(backups) == [made.name]  # nothing temporary left beside it
    with zipfile.ZipFile(made) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
    assert {MANIFEST, DATABASE} <= set(names)
    assert f"documents/{local_store.info['form'].relative_path}" in names
    assert manifest["store_id"] == local_store.store_id
    assert manifest["counts"] == table_counts(local_store.db)
    target = restored_dir / "koumassi.sqlite"
    with restore_store(made, target) as restored:
        assert restored.store_id == local_store.store_id
        assert table_counts(restored.db) == table_counts(local_store.db)
        info = local_store.info
        assert restored.parties.get(info["awa"].id) == local_store.parties.get(info["awa"].id)
        assert restored.tenure.get(info["tenure"].id) == info["tenure"]
        assert restored.spatial_units.get(info["parcel"].id).code == info["parcel"].code
        assert restored.history("party", info["awa"].id) == local_store.history(
            "party", info["awa"].id)
        assert restored.documents.content(info["photo"].id) == JPEG
        assert restored.documents.content(info["form"].id) == b"%PDF-1.7 signed"
        assert restored.documents_dir == str(target) + ".documents"
        assert check_store(restored).ok


def test_backup_into_a_named_file_and_never_over_one(local_store, backups):
    target = backups / "before-the-census.zip"
    assert backup_store(local_store, target) == target
    with pytest.raises(StoreExistsError):
        backup_store(local_store, target)
    assert os.listdir(backups) == ["before-the-census.zip"]


def test_backup_taken_while_another_connection_writes_is_consistent(tmp_path, backups,
                                                                    restored_dir):
    store = SettlementStore.create(tmp_path / "busy.sqlite", 32630, actor="tester")
    load_demo_settlement(store, DEMO)
    before = store.parties.count()
    writer = store.reopen(actor="enumerator")
    stop = threading.Event()
    written = []

    def keep_writing():
        while not stop.is_set():
            written.append(writer.parties.add(Party(first_name="Nouveau",
                                                    last_name=str(len(written)))))

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while len(written) < 3:  # the writer is under way before the backup starts
            stop.wait(0.01)
        made = backup_store(store, backups)
        at_backup = len(written)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert len(written) > at_backup  # it went on writing during or after the backup
    with restore_store(made, restored_dir / "busy.sqlite") as restored:
        assert before < restored.parties.count() < before + len(written) + 1
        assert check_store(restored).ok
    store.close()


def test_postgis_stores_are_backed_up_with_pg_dump(store, backups):
    if store.db.dialect == "spatialite":
        assert backup_store(store, backups).exists()
        return
    with pytest.raises(BackupError, match="pg_dump"):
        backup_store(store, backups)
    assert os.listdir(backups) == []


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_a_truncated_backup_is_refused_and_leaves_nothing(local_store, backups, restored_dir,
                                                          keep):
    made = backup_store(local_store, backups)
    data = made.read_bytes()
    cut = backups / "cut.zip"
    cut.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(BackupError, match="not a readable backup"):
        restore_store(cut, restored_dir / "koumassi.sqlite")
    assert os.listdir(restored_dir) == []


def test_damaged_bytes_inside_the_zip_are_refused(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)
    with zipfile.ZipFile(made) as archive:
        start = archive.getinfo(DATABASE).header_offset + 30 + len(DATABASE)
    data = bytearray(made.read_bytes())
    data[start + 2000] ^= 0xFF  # one flipped byte, as a failing USB stick gives
    damaged = backups / "damaged.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="is damaged"):
        restore_store(damaged, restored_dir / "koumassi.sqlite")
    assert os.listdir(restored_dir) == []


def test_tampered_database_or_document_is_refused(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)

    def flip_database(name, data):
        if name != DATABASE:
            return data
        return data[:5000] + bytes([data[5000] ^ 1]) + data[5001:]

    form_entry = f"documents/{local_store.info['form'].relative_path}"
    for number, change in enumerate((flip_database, {form_entry: b"%PDF-1.7 forged"})):
        tampered = rewritten(made, backups / f"tampered{number}.zip", change)
        with pytest.raises(BackupError, match="SHA-256"):
            restore_store(tampered, restored_dir / "koumassi.sqlite")
        assert os.listdir(restored_dir) == []


def test_an_edited_manifest_is_refused(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)

    def more_parties(manifest):
        manifest["counts"]["party"] += 1

    def other_checksum(manifest):
        manifest["database"]["sha256"] = "0" * 64

    def not_a_manifest(manifest):
        manifest.clear()

    for edit, reason in ((more_parties, "rows its manifest counts"),
                         (other_checksum, "SHA-256"),
                         (not_a_manifest, "not a settlement store backup")):
        edited = edited_manifest(made, backups / f"{edit.__name__}.zip", edit,
                                 local_store.store_id)
        with pytest.raises(BackupError, match=reason):
            restore_store(edited, restored_dir / "koumassi.sqlite")
        assert os.listdir(restored_dir) == []


def test_an_entry_outside_the_manifest_is_refused(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)
    sneaky = backups / "sneaky.zip"
    rewritten(made, sneaky, {})
    with zipfile.ZipFile(sneaky, "a") as archive:
        archive.writestr("../../outside.txt", b"written where it should not be")
    with pytest.raises(BackupError, match="does not hold what its manifest lists"):
        restore_store(sneaky, restored_dir / "koumassi.sqlite")
    assert os.listdir(restored_dir) == []
    assert not (restored_dir.parent.parent / "outside.txt").exists()


def test_restore_never_overwrites(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)
    existing = restored_dir / "koumassi.sqlite"
    existing.write_bytes(b"someone's work")
    with pytest.raises(StoreExistsError):
        restore_store(made, existing)
    assert existing.read_bytes() == b"someone's work"
    (restored_dir / "other.sqlite.documents").mkdir()
    with pytest.raises(StoreExistsError):
        restore_store(made, restored_dir / "other.sqlite")
    assert sorted(os.listdir(restored_dir)) == ["koumassi.sqlite", "other.sqlite.documents"]


# --- signed backups (issue #14, point 6) ---------------------------------------------------
ADMIN, ADMIN_PASSWORD = "adele", "admin-password"
CLERK, CLERK_PASSWORD = "eric", "clerk-password"


@pytest.fixture
def staffed_store(local_store):
    """The local store with an administrator and an enumerator."""
    local_store.users.create(ADMIN, "Adèle Administratrice", "administrator", ADMIN_PASSWORD)
    sign_in(local_store, ADMIN, ADMIN_PASSWORD)
    local_store.users.create(CLERK, "Eric Enquêteur", "enumerator", CLERK_PASSWORD)
    return local_store


def refused_leaving_nothing(backup, restored_dir, error=BackupError, match=None, **options):
    with pytest.raises(error, match=match) as refused:
        restore_store(backup, restored_dir / "koumassi.sqlite", **options)
    assert "Nothing was restored" in str(refused.value)
    assert os.listdir(restored_dir) == []
    return refused.value


def store_events(store):
    return store.db.query("SELECT event, happened_by, details FROM store_event ORDER BY id")


def test_a_backup_is_signed_with_a_key_kept_outside_it(local_store, backups, backup_keyring):
    made = backup_store(local_store, backups)
    key_file = pathlib.Path(backup_keyring) / f"{local_store.store_id}.key"
    assert key_file.is_file() and key_file.stat().st_mode & 0o777 == 0o600
    key = BackupKeyring.default().key_for(local_store.store_id)
    assert len(key) == 32
    with zipfile.ZipFile(made) as archive:
        raw = archive.read(MANIFEST)
        mac = archive.read(MAC_ENTRY).decode()
        everything = b"".join(archive.read(name) for name in archive.namelist())
    manifest = json.loads(raw)
    assert manifest["format_version"] == 2
    assert manifest["authentication"] == {"algorithm": "HMAC-SHA256", "key_id": key_id(key),
                                          "entry": MAC_ENTRY}
    assert mac == manifest_mac(key, raw)
    assert key not in everything and key.hex().encode() not in everything
    backup_store(local_store, backups / "second.zip")  # the same key, not a new one
    assert BackupKeyring.default().key_for(local_store.store_id) == key


def test_an_edited_store_with_recomputed_checksums_is_refused(staffed_store, backups,
                                                              restored_dir):
    made = backup_store(staffed_store, backups)
    attack = forged(made, backups / "attack.zip", add_administrator)
    error = refused_leaving_nothing(attack, restored_dir, match="changed after it was made")
    assert not isinstance(error, UnverifiedBackupError)  # no administrator can wave it in
    refused_leaving_nothing(attack, restored_dir, match="changed after it was made",
                            accept_unverified=Acceptance("intruder", "taken-over", "mine"))


def test_a_forged_mac_or_an_edited_manifest_is_refused(local_store, backups, restored_dir):
    made = backup_store(local_store, backups)
    other_key = os.urandom(32)
    forgery = forged(made, backups / "forged.zip", add_administrator, other_key,
                     lambda m: m["authentication"].update(key_id=key_id(
                         BackupKeyring.default().key_for(local_store.store_id))))
    refused_leaving_nothing(forgery, restored_dir, match="changed after it was made")
    more = forged(made, backups / "more.zip", None,
                  edit_manifest=lambda m: m["counts"].update(party=m["counts"]["party"] + 1))
    refused_leaving_nothing(more, restored_dir, match="changed after it was made")


def test_a_backup_without_a_signature_is_refused_as_unverified(local_store, backups,
                                                               restored_dir):
    made = backup_store(local_store, backups)
    for unsigned in (made_before_signing(made, backups / "old.zip"),
                     forged(made, backups / "stripped.zip", None, DROP)):
        error = refused_leaving_nothing(unsigned, restored_dir, UnverifiedBackupError,
                                        match="cannot be authenticated")
        assert (error.reason, error.store_id) == ("unsigned", local_store.store_id)
        assert "administrator" in str(error) and "accept" in str(error)


def test_an_administrator_accepts_an_unsigned_backup_and_it_is_recorded(
        staffed_store, backups, restored_dir):
    old = made_before_signing(backup_store(staffed_store, backups), backups / "old.zip")
    accepted = Acceptance(ADMIN, ADMIN_PASSWORD, "our last backup before the upgrade")
    with restore_store(old, restored_dir / "koumassi.sqlite",
                       accept_unverified=accepted) as restored:
        assert table_counts(restored.db) == table_counts(staffed_store.db)
        [event] = store_events(restored)
        assert check_store(restored).ok
    assert (event["event"], event["happened_by"]) == (ACCEPTED_EVENT, ADMIN)
    details = json.loads(event["details"])
    assert details["backup"] == "old.zip" and details["reason"] == "unsigned"
    assert details["backup_sha256"] == hashlib.sha256(old.read_bytes()).hexdigest()
    assert details["store_id"] == staffed_store.store_id
    assert details["created_by"] == ADMIN and details["created_at"]
    assert details["note"] == "our last backup before the upgrade" and details["signed_in"]


def test_an_unsigned_backup_of_a_store_without_users_is_accepted_in_the_name_given(
        local_store, backups, restored_dir):
    old = made_before_signing(backup_store(local_store, backups), backups / "old.zip")
    with restore_store(old, restored_dir / "koumassi.sqlite",
                       accept_unverified=Acceptance("awa", None, "single-user store")) as done:
        [event] = store_events(done)
    assert event["happened_by"] == "awa"
    assert json.loads(event["details"])["signed_in"] is False


@pytest.mark.parametrize("login, password", [(ADMIN, "wrong"), (CLERK, CLERK_PASSWORD),
                                             ("nobody", "x"), ("", "")])
def test_an_acceptance_by_anyone_but_an_administrator_is_refused(
        staffed_store, backups, restored_dir, login, password):
    old = made_before_signing(backup_store(staffed_store, backups), backups / "old.zip")
    error = refused_leaving_nothing(old, restored_dir,
                                    accept_unverified=Acceptance(login, password, "please"))
    assert not isinstance(error, UnverifiedBackupError)
    assert not [n for n in os.listdir(restored_dir.parent) if n.startswith(".stdm-")]


def test_a_valid_backup_restored_with_an_acceptance_records_nothing(staffed_store, backups,
                                                                    restored_dir):
    made = backup_store(staffed_store, backups)
    with restore_store(made, restored_dir / "koumassi.sqlite",
                       accept_unverified=Acceptance(ADMIN, "not even checked")) as restored:
        assert store_events(restored) == []


def test_restore_on_another_computer_needs_the_exported_key(local_store, backups,
                                                            restored_dir, tmp_path):
    made = backup_store(local_store, backups)
    elsewhere = BackupKeyring(tmp_path / "other-computer")
    error = refused_leaving_nothing(made, restored_dir, UnverifiedBackupError,
                                    match="holds no backup key", keyring=elsewhere)
    assert (error.reason, error.store_id) == ("unknown_key", local_store.store_id)
    assert "Import" in str(error)
    key_file = BackupKeyring.default().export_key(local_store.store_id, tmp_path / "k.stdmkey")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert elsewhere.import_key(key_file) == local_store.store_id
    assert elsewhere.import_key(key_file) == local_store.store_id  # the same key again: fine
    with restore_store(made, restored_dir / "koumassi.sqlite", keyring=elsewhere) as restored:
        assert restored.store_id == local_store.store_id


def test_a_key_file_for_a_store_with_another_key_is_refused(local_store, backups, tmp_path):
    backup_store(local_store, backups)
    elsewhere = BackupKeyring(tmp_path / "other-computer")
    own = elsewhere.key_for(local_store.store_id, create=True)
    exported = BackupKeyring.default().export_key(local_store.store_id, tmp_path / "k.json")
    with pytest.raises(BackupKeyError, match="already holds a different backup key"):
        elsewhere.import_key(exported)
    assert elsewhere.key_for(local_store.store_id) == own
    with pytest.raises(BackupKeyError, match="already exists"):
        BackupKeyring.default().export_key(local_store.store_id, exported)


@pytest.mark.parametrize("text, why", [
    ("not json at all", "not JSON"),
    ('{"format": "something-else"}', "format is not"),
    ('{"format": "stdm-backup-key", "format_version": 1, "store_id": "../../etc/x", '
     '"key": "AAAA"}', "store id"),
    ('{"format": "stdm-backup-key", "format_version": 1, "store_id": "abc-123", '
     '"key": "%%%"}', "not base64"),
    ('{"format": "stdm-backup-key", "format_version": 1, "store_id": "abc-123", '
     '"key": "AAAA"}', "3 bytes long, not 32"),
])
def test_a_malformed_key_file_is_refused_with_a_reason(tmp_path, text, why):
    path = tmp_path / "key.json"
    path.write_text(text)
    keyring = BackupKeyring(tmp_path / "keyring")
    with pytest.raises(BackupKeyError, match=why) as refused:
        keyring.import_key(path)
    assert "not a usable STDM backup key file" in str(refused.value)
    assert not (tmp_path / "keyring").exists() or os.listdir(tmp_path / "keyring") == []


def test_keys_are_made_once_and_store_ids_never_leave_the_keyring(tmp_path):
    keyring = BackupKeyring(tmp_path / "keyring")
    assert keyring.key_for("abc-123") is None
    key = keyring.key_for("abc-123", create=True)
    assert keyring.key_for("abc-123", create=True) == key
    assert (tmp_path / "keyring").stat().st_mode & 0o777 == 0o700
    assert os.listdir(tmp_path / "keyring") == ["abc-123.key"]
    for store_id in ("../outside", "a/b", "", ".hidden", None):
        with pytest.raises(BackupKeyError, match="not a store id"):
            keyring.key_for(store_id, create=True)
    assert os.listdir(tmp_path / "keyring") == ["abc-123.key"]


def insert_office_key(store, private_key):
    store.db.execute("INSERT INTO office_key (id, office_name, algorithm, public_key, "
                     "private_key, created_at, created_by) VALUES (?, 'Bureau', 'ed25519', "
                     "'PUBLIC', ?, '2026-01-01T00:00:00.000Z', 'tester')",
                     (private_key[-8:], private_key))


def backed_up_keys(backup, tmp_path):
    with zipfile.ZipFile(backup) as archive:
        data = archive.read(DATABASE)
    copy = tmp_path / "inside.sqlite"
    copy.write_bytes(data)
    with SettlementStore.open(copy, read_only=True, upgrade=False) as inside:
        rows = {r["id"]: r["private_key"] for r in inside.db.query(
            "SELECT id, private_key FROM office_key")}
    return data, rows


def test_a_clear_office_key_is_left_out_of_the_backup(local_store, backups, tmp_path,
                                                      restored_dir):
    clear = "CLEAR-PRIVATE-KEY-" + "x" * 40 + "clear001"
    sealed = PROTECTED_KEY_PREFIX + "sealed-with-a-passphrase" + "sealed01"
    with local_store.transaction():
        insert_office_key(local_store, clear)
        insert_office_key(local_store, sealed)
    made = backup_store(local_store, backups)
    data, rows = backed_up_keys(made, tmp_path)
    assert rows == {"clear001": "", "sealed01": sealed}
    assert b"CLEAR-PRIVATE-KEY" not in data  # not in a freed page either
    assert local_store.db.scalar("SELECT private_key FROM office_key WHERE id = 'clear001'"
                                 ) == clear  # the live store keeps it
    with restore_store(made, restored_dir / "koumassi.sqlite") as restored:
        assert restored.db.scalar("SELECT private_key FROM office_key WHERE id = 'sealed01'"
                                  ) == sealed


def test_an_unsigned_backup_of_an_older_schema_is_upgraded_to_record_its_acceptance(
        tmp_path, backups, restored_dir):
    path = tmp_path / "old.sqlite"
    with SettlementStore.create(path, 32630, actor="tester", target_version=8) as old:
        old.users.create(ADMIN, "Adèle Administratrice", "administrator", ADMIN_PASSWORD)
        made = backup_store(old, backups)
    unsigned = made_before_signing(made, backups / "old.zip")
    target = restored_dir / "old.sqlite"
    with restore_store(unsigned, target,
                       accept_unverified=Acceptance(ADMIN, ADMIN_PASSWORD, "v8")) as restored:
        assert restored.schema_version > 8
        [event] = store_events(restored)
    assert event["happened_by"] == ADMIN
    assert sorted(os.listdir(restored_dir)) == ["old.sqlite"]  # no upgrade copy beside it


def test_a_manifest_naming_no_store_id_never_reaches_the_keyring(local_store, backups,
                                                                 restored_dir, backup_keyring):
    made = backup_store(local_store, backups)
    before = sorted(os.listdir(backup_keyring))
    for store_id in ("../../outside", None, 7):
        odd = forged(made, backups / "odd.zip", None,
                     edit_manifest=lambda m, value=store_id: m.update(store_id=value))
        refused_leaving_nothing(odd, restored_dir, match="not a store id")
        odd.unlink()
    assert sorted(os.listdir(backup_keyring)) == before
