import hashlib
import os
import sqlite3

import pytest

from stdm_plugin.core import (
    ConcurrentEditError,
    NewerStoreError,
    NotAStoreError,
    Party,
    ReadOnlyStoreError,
    SettlementStore,
    StoreExistsError,
    StoreLockedError,
    UnknownCrsError,
)
from stdm_plugin.core.store.migrations import SCHEMA_VERSION


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_create_makes_a_versioned_store_in_the_chosen_crs(tmp_path):
    path = tmp_path / "s.sqlite"
    with SettlementStore.create(path, "EPSG:32630", actor="amina") as store:
        assert store.srid == 32630
        assert store.schema_version == SCHEMA_VERSION
        assert store.db.scalar("PRAGMA journal_mode") == "wal"
        assert store.db.scalar("PRAGMA foreign_keys") == 1
        columns = store.db.query(
            "SELECT f_table_name, f_geometry_column, geometry_type, srid FROM geometry_columns "
            "ORDER BY 1, 2")
    assert [(c["f_table_name"], c["f_geometry_column"], c["srid"]) for c in columns] == [
        ("settlement", "boundary", 32630), ("spatial_unit", "boundary", 32630),
        ("spatial_unit", "location", 32630)]
    assert [p.name for p in tmp_path.iterdir() if "creating" in p.name] == []


@pytest.mark.parametrize("crs", ["EPSG:999999", "not a crs", "+proj=ortho +lat_0=5 +lon_0=-4",
                                 "EPSG:4979"])
def test_unknown_or_unusable_crs_is_refused_and_nothing_is_written(tmp_path, crs):
    with pytest.raises(UnknownCrsError) as info:
        SettlementStore.create(tmp_path / "s.sqlite", crs)
    assert info.value.crs == crs
    assert list(tmp_path.iterdir()) == []


def test_create_refuses_to_overwrite(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_text("precious")
    with pytest.raises(StoreExistsError):
        SettlementStore.create(path, 4326)
    assert path.read_text() == "precious"


def test_a_text_file_is_not_a_store_and_is_left_alone(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, this is not a database\n" * 20)
    before = digest(path)
    with pytest.raises(NotAStoreError, match="not a settlement store"):
        SettlementStore.open(path)
    assert digest(path) == before


def test_a_foreign_sqlite_database_is_not_a_store_and_is_left_alone(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE things (x)")
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(NotAStoreError, match="stdm_store_info"):
        SettlementStore.open(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]


def test_a_store_from_a_newer_version_is_refused_unchanged(tmp_path):
    path = tmp_path / "s.sqlite"
    SettlementStore.create(path, 4326).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE stdm_store_info SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION + 5),))
    con.commit()
    con.close()
    before = digest(path)
    with pytest.raises(NewerStoreError) as info:
        SettlementStore.open(path)
    assert info.value.found == SCHEMA_VERSION + 5
    assert "newer version" in str(info.value)
    assert digest(path) == before


def test_a_store_locked_by_another_writer_gets_a_clear_message(tmp_path):
    path = tmp_path / "s.sqlite"
    SettlementStore.create(path, 4326).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError, match="locked by another program"):
            SettlementStore.open(path, timeout_ms=200)
    finally:
        other.execute("ROLLBACK")
        other.close()
    SettlementStore.open(path).close()


def test_a_write_blocked_by_another_writer_raises_locked(tmp_path):
    path = tmp_path / "s.sqlite"
    store = SettlementStore.create(path, 4326)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    store.db.execute("PRAGMA busy_timeout = 100")
    try:
        with pytest.raises(StoreLockedError):
            store.parties.add(Party(first_name="Awa"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.parties.count() == 0
    store.close()


def test_a_read_only_store_is_refused_for_writing_but_opens_read_only(tmp_path, monkeypatch):
    path = tmp_path / "s.sqlite"
    SettlementStore.create(path, 4326).close()
    os.chmod(path, 0o444)
    if os.geteuid() == 0:  # root ignores permissions; make access() answer as for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if (
            mode & os.W_OK and os.fspath(p) == os.fspath(path)) else real_access(p, mode))
    before = digest(path)
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        SettlementStore.open(path)
    with SettlementStore.open(path, read_only=True) as store:
        assert store.parties.count() == 0
    assert digest(path) == before


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        SettlementStore.open(tmp_path / "nowhere.sqlite")


def test_an_older_store_upgrades_itself_on_open_after_a_backup(tmp_path):
    path = tmp_path / "old.sqlite"
    with SettlementStore.create(path, 32630, target_version=1) as old:
        assert old.schema_version == 1
        assert not old.db.table_exists("audit_log")
        with old.transaction():  # as the version-1 plugin wrote it
            old.db.execute("INSERT INTO party (id, first_name, last_name) VALUES "
                           "('p-1', 'Awa', 'Koné')")
    with SettlementStore.open(path, actor="upgrader") as store:
        assert store.schema_version == SCHEMA_VERSION
        kept = store.parties.get("p-1")
        assert (kept.last_name, kept.row_version) == ("Koné", 1)
        store.parties.update(kept.id, phone="0700000000")
        assert [v["action"] for v in store.history("party", kept.id)] == ["update"]
        applied = [r["version"] for r in store.db.query(
            "SELECT version FROM stdm_schema_history ORDER BY version")]
    assert applied == list(range(1, SCHEMA_VERSION + 1))
    backup = tmp_path / "old.sqlite.schema-v1.bak"
    assert backup.exists()
    with SettlementStore.open(backup, read_only=True) as snapshot:
        assert snapshot.schema_version == 1


def test_copy_keeps_everything_even_while_open(tmp_path, ):
    path = tmp_path / "s.sqlite"
    with SettlementStore.create(path, 4326) as store:
        party = store.parties.add(Party(first_name="Awa"))
        store.documents.attach(b"%PDF-1.4 receipt", "receipt.pdf", document_type="rent_receipt",
                               party_id=party.id, storage="folder")
        store.copy_to(tmp_path / "copy.sqlite")
    with SettlementStore.open(tmp_path / "copy.sqlite") as copy:
        assert copy.parties.get(party.id).first_name == "Awa"
        assert copy.documents.verify() == []


def test_a_save_over_someone_elses_change_is_refused(new_store):
    with new_store(actor="amina") as first:
        party = first.parties.add(Party(first_name="Awa", last_name="Koné"))
        seen = first.parties.get(party.id).row_version
        with first.reopen(actor="yao") as second:
            second.parties.update(party.id, phone="+225 01 02 03 04 05")
        with pytest.raises(ConcurrentEditError) as info:
            first.parties.update(party.id, expected_version=seen, last_name="Koné-Bamba")
        assert info.value.changed_by == "yao"
        assert "yao" in str(info.value) and "nothing was overwritten" in str(info.value)
        current = first.parties.get(party.id)
        assert (current.last_name, current.phone) == ("Koné", "+225 01 02 03 04 05")
        assert current.row_version == seen + 1
        first.parties.update(party.id, expected_version=current.row_version,
                             last_name="Koné-Bamba")
        assert first.parties.get(party.id).row_version == seen + 2
