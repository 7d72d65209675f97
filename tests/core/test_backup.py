"""Backup and restore: a backup restores to the same store, or is refused and leaves nothing."""
import json
import os
import pathlib
import re
import threading
import zipfile

import pytest
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.safety.backup import (
    DATABASE,
    MANIFEST,
    BackupError,
    backup_store,
    restore_store,
    table_counts,
)
from stdm_plugin.core.safety.consistency import check_store
from stdm_plugin.core.store.errors import StoreExistsError

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


def edited_manifest(backup, out, edit):
    def change(name, data):
        if name != MANIFEST:
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()
    return rewritten(backup, out, change)


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
        edited = edited_manifest(made, backups / f"{edit.__name__}.zip", edit)
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
