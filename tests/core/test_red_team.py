"""Trust II (issue #14): attacks on the land register, each refused, each kept as a test.

Every test here performs one attack the way a hostile user would, with the
core API on a copy of the demo store (adjudicated blocks, certificates
possible), and checks that it is refused with a clear message and leaves
nothing behind. TESTING.md lists the attacks, what each gets now, and the
test that shows it.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import shutil

import pytest
from package_samples import field_edit

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.adjudication import adjudicate_blocks, sign_in_as
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.apply import merge_package
from stdm_plugin.core.packages.field_package import PACKAGE_STORE, PackageRequest, cut_package
from stdm_plugin.core.store.errors import FieldPackageError
from stdm_plugin.core.store.publish import copy_store

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"
#: blocks the demo office takes through adjudication (one objection stays open in B1A)
ADJUDICATED = ("B1A", "B2A")


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> pathlib.Path:
    """The demo store with two blocks adjudicated, made once for the module."""
    path = tmp_path_factory.mktemp("red_team") / "demo.sqlite"
    with SettlementStore.create(path, 32630, actor="red-team") as store:
        load_demo_settlement(store, DEMO)
        adjudicate_blocks(store, ADJUDICATED)
    return path


@pytest.fixture
def demo(demo_template, backend_name, tmp_path, request):
    """A copy of the adjudicated demo store on the backend under test."""
    if backend_name == "spatialite":
        path = tmp_path / "demo.sqlite"
        shutil.copyfile(demo_template, path)
        store = SettlementStore.open(path, actor="red-team")
    else:
        server = request.getfixturevalue("postgis_server")
        connection = {"host": server.host, "port": server.port, "user": server.user,
                      "dbname": server.dbname}
        store = SettlementStore.create_postgis(connection, server.fresh_schema(), 32630,
                                               actor="red-team")
        with SettlementStore.open(demo_template, read_only=True) as source:
            copy_store(source, store)
    yield store
    store.close()


def blocks_of(store) -> list[str]:
    return [r["block"] for r in store.db.query(
        "SELECT DISTINCT block FROM spatial_unit WHERE block IS NOT NULL AND kind = 'parcel' "
        "ORDER BY block")]


# --- 10. a cut of an adjudicated block ----------------------------------------------------
def test_an_adjudicated_block_is_cut_and_merged_back_on_both_backends(demo, tmp_path):
    sign_in_as(demo, "supervisor")
    folder = tmp_path / "b1a"
    manifest = cut_package(demo, folder, PackageRequest(team="Equipe A", blocks=["B1A"]))
    assert manifest.counts["social_tenure"] > 0
    report = merge_package(demo, str(folder))
    assert report.nothing_changed and report.unchanged > 0


def test_every_block_of_the_demo_store_is_cut_and_merged_back(demo_template, tmp_path):
    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    with SettlementStore.open(path, actor="red-team") as store:
        sign_in_as(store, "supervisor")
        blocks = blocks_of(store)
        assert len(blocks) == 40 and set(ADJUDICATED) <= set(blocks)
        for block in blocks:
            folder = tmp_path / f"package-{block}"
            cut_package(store, folder, PackageRequest(team=f"Equipe {block}", blocks=[block]))
            report = merge_package(store, str(folder))
            assert report.nothing_changed, (block, report.counts)


def test_a_cut_that_would_leave_a_reference_dangling_names_the_record(demo_template, tmp_path,
                                                                       monkeypatch):
    from stdm_plugin.core.packages import field_package

    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    monkeypatch.setattr(field_package, "REFERENCED_TABLES", ("submission",))
    with SettlementStore.open(path, actor="red-team") as store:
        sign_in_as(store, "supervisor")
        with pytest.raises(FieldPackageError) as refused:
            cut_package(store, tmp_path / "b1a", PackageRequest(team="A", blocks=["B1A"]))
    text = str(refused.value)
    assert "social_tenure" in text and "public_display" in text and "public_display_id" in text
    assert "Nothing was written" in text
    assert not (tmp_path / "b1a").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("b1a")]


# --- helpers for the merge attacks ----------------------------------------------------------
def register_state(store) -> dict:
    """What an attack must leave as it was: every claim's legal fields, the registers."""
    claims = {r["id"]: (r["adjudication_state"], r["party_id"], r["public_display_id"],
                        r["end_lifespan_version"])
              for r in store.db.query("SELECT * FROM social_tenure")}
    tables = ("party", "spatial_unit", "social_tenure", "supporting_document", "audit_log",
              "adjudication_event", "certificate", "certificate_event", "package_merge")
    return {"claims": claims, **{t: store.db.scalar(f"SELECT count(*) FROM {t}") for t in tables},
            "certificates": [tuple(r.values()) for r in store.db.query(
                "SELECT id, status, print_count, revoked_reason FROM certificate ORDER BY id")]}


def claims_of_block(store, block: str, state: str) -> list[dict]:
    return store.db.query(
        "SELECT t.* FROM social_tenure t JOIN spatial_unit u ON u.id = t.spatial_unit_id "
        "WHERE u.block = ? AND t.adjudication_state = ? AND t.end_lifespan_version IS NULL "
        "ORDER BY t.id", (block, state))


@contextlib.contextmanager
def hostile_edit(folder):
    """The package's database edited by someone who first drops its rules (it is their file)."""
    with field_edit(folder) as con:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                   "AND name NOT LIKE 'audit_%'").fetchall():
            con.execute(f'DROP TRIGGER "{name}"')
        con.execute("PRAGMA foreign_keys = OFF")
        yield con


def cut_block(store, tmp_path, block: str) -> pathlib.Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    sign_in_as(store, "supervisor")
    folder = tmp_path / f"package-{block}"
    cut_package(store, folder, PackageRequest(team="Equipe A", blocks=[block],
                                              enumerators=["moussa"]))
    return folder


def refused_merge(store, folder, kind: str, **options) -> str:
    before = register_state(store)
    with pytest.raises(FieldPackageError) as refused:
        merge_package(store, str(folder), **options)
    assert refused.value.kind == kind, refused.value
    assert "nothing was merged" in str(refused.value).lower()
    assert register_state(store) == before
    return str(refused.value)


@pytest.fixture
def issued(demo, tmp_path):
    """A certificate issued for the first approved parcel of block B2A."""
    from certificate_samples import render_to

    from stdm_plugin.core.certificates.batch import approved_parcels
    from stdm_plugin.core.certificates.certificates import issue_certificate

    sign_in_as(demo, "land_officer")
    parcel = approved_parcels(demo, block="B2A")[0]
    certificate = issue_certificate(demo, parcel, render_to, str(tmp_path / "pdf"),
                                    today="2026-10-20")
    claims = demo.db.query("SELECT * FROM social_tenure WHERE spatial_unit_id = ? "
                           "AND end_lifespan_version IS NULL", (parcel,))
    assert claims and all(c["adjudication_state"] == "issued" for c in claims)
    return certificate, claims[0]


# --- 2. a merge approves claims ---------------------------------------------------------------
def test_a_package_that_approves_a_claim_is_refused(demo, tmp_path):
    folder = cut_block(demo, tmp_path, "B5A")
    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    with hostile_edit(folder) as con:
        con.execute("UPDATE social_tenure SET adjudication_state = 'approved', "
                    "updated_by = 'moussa' WHERE id = ?", (claim["id"],))
    text = refused_merge(demo, folder, "protected", policy="theirs")
    assert "adjudication_state" in text and claim["id"] in text and "'approved'" in text


def test_a_claim_added_in_the_field_as_approved_is_refused(demo, tmp_path):
    folder = cut_block(demo, tmp_path, "B5A")
    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    with hostile_edit(folder) as con:
        con.execute("UPDATE social_tenure SET share_numerator = 1, share_denominator = 2 "
                    "WHERE id = ?", (claim["id"],))
        con.execute("INSERT INTO social_tenure (id, party_id, spatial_unit_id, tenure_type, "
                    "share_numerator, share_denominator, adjudication_state, created_by, "
                    "updated_by) VALUES ('forged-claim', ?, ?, 'owner', 1, 2, 'approved', "
                    "'moussa', 'moussa')", (claim["party_id"], claim["spatial_unit_id"]))
    assert "forged-claim" in refused_merge(demo, folder, "protected")


def test_the_merge_never_writes_a_claims_adjudication_even_unchecked(demo, tmp_path,
                                                                      monkeypatch):
    """Defence in depth: with the refusal switched off, the writes still skip what a package
    may not decide, and a claim new to the store starts unadjudicated."""
    from stdm_plugin.core.packages import merge

    monkeypatch.setattr(merge, "_refuse_protected", lambda plan: None)
    folder = cut_block(demo, tmp_path, "B5A")
    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    with hostile_edit(folder) as con:
        con.execute("UPDATE social_tenure SET adjudication_state = 'approved', remarks = 'seen' "
                    "WHERE id = ?", (claim["id"],))
    events = demo.db.scalar("SELECT count(*) FROM adjudication_event")
    merge_package(demo, str(folder))
    after = demo.db.query_one("SELECT * FROM social_tenure WHERE id = ?", (claim["id"],))
    assert (after["adjudication_state"], after["remarks"]) == ("enumerated", "seen")
    assert demo.db.scalar("SELECT count(*) FROM adjudication_event") == events


# --- 3. a merge rewrites an issued claim ------------------------------------------------------
def another_person(demo, claim) -> str:
    """A person other than the claim's holder, to put in their place."""
    return demo.db.scalar("SELECT id FROM party WHERE party_type = 'person' AND id <> ? "
                          "ORDER BY id LIMIT 1", (claim["party_id"],))


def test_a_package_that_reopens_an_issued_claim_and_replaces_its_holder_is_refused(
        demo, issued, tmp_path):
    _certificate, claim = issued
    folder = cut_block(demo, tmp_path, "B2A")
    other = another_person(demo, claim)
    with hostile_edit(folder) as con:
        con.execute("UPDATE social_tenure SET adjudication_state = 'enumerated', party_id = ?, "
                    "updated_by = 'admin' WHERE id = ?", (other, claim["id"]))
    refused_merge(demo, folder, "protected", policy="theirs")


def test_a_package_that_replaces_an_issued_claims_holder_is_refused_by_the_database(
        demo, issued, tmp_path):
    _certificate, claim = issued
    folder = cut_block(demo, tmp_path, "B2A")
    other = another_person(demo, claim)
    with hostile_edit(folder) as con:
        con.execute("UPDATE social_tenure SET party_id = ? WHERE id = ?", (other, claim["id"]))
    text = refused_merge(demo, folder, "rule", policy="theirs")
    assert "valid certificate covers this claim" in text


@pytest.mark.parametrize("sql", [
    "UPDATE social_tenure SET adjudication_state = 'enumerated', party_id = :other WHERE id = :id",
    "UPDATE social_tenure SET party_id = :other WHERE id = :id",
    "UPDATE social_tenure SET adjudication_state = 'enumerated' WHERE id = :id",
    "UPDATE social_tenure SET public_display_id = NULL WHERE id = :id",
], ids=["state_and_holder", "holder", "state_without_event", "display"])
def test_raw_edits_of_an_issued_claim_are_refused_by_the_database(demo, issued, sql):
    from stdm_plugin.core.store.errors import ClaimLockedError

    _certificate, claim = issued
    other = another_person(demo, claim)
    names = {"other": other, "id": claim["id"]}
    statement = sql.replace(":other", "?").replace(":id", "?")
    values = [names[n] for n in ("other", "id") if f":{n}" in sql]
    before = register_state(demo)
    with pytest.raises(ClaimLockedError):
        with demo.transaction():
            demo.db.execute(statement, values)
    assert register_state(demo) == before


def test_a_raw_edit_cannot_approve_a_claim_without_its_event(demo):
    from stdm_plugin.core.store.errors import ClaimLockedError

    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    with pytest.raises(ClaimLockedError, match="adjudication"):
        with demo.transaction():
            demo.db.execute("UPDATE social_tenure SET adjudication_state = 'approved' "
                            "WHERE id = ?", (claim["id"],))


# --- 4. a package decides who did it (the merge's part) ---------------------------------------
def test_merged_records_are_written_by_the_person_who_merges(demo, tmp_path):
    folder = cut_block(demo, tmp_path, "B5A")
    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    with field_edit(folder) as con:
        con.execute("UPDATE social_tenure SET remarks = 'checked', created_by = 'admin', "
                    "updated_by = 'admin' WHERE id = ?", (claim["id"],))
    merge_package(demo, str(folder))
    row = demo.db.query_one("SELECT * FROM social_tenure WHERE id = ?", (claim["id"],))
    assert (row["remarks"], row["updated_by"], row["created_by"]) == (
        "checked", "supervisor", claim["created_by"])
    assert row["prov_enumerator"] == "admin" and row["prov_team"] == "Equipe A"
    logged = demo.db.query_one("SELECT changed_by FROM audit_log WHERE record_id = ? "
                               "ORDER BY id DESC LIMIT 1", (claim["id"],))
    assert logged["changed_by"] == "supervisor"


# --- 5. a raw edit revokes a certificate ------------------------------------------------------
@pytest.mark.parametrize("sql", [
    "UPDATE certificate SET status = 'revoked' WHERE id = ?",
    "UPDATE certificate SET status = 'revoked', revoked_reason = 'forged' WHERE id = ?",
    "UPDATE certificate SET print_count = print_count + 1 WHERE id = ?",
    "UPDATE certificate SET pdf_sha256 = 'x' WHERE id = ?",
    "UPDATE certificate SET superseded_by = id WHERE id = ?",
    "UPDATE certificate SET end_lifespan_version = '2026-01-01' WHERE id = ?",
], ids=["status", "status_and_reason", "print_count", "pdf", "superseded_by", "lifespan"])
def test_raw_edits_of_the_certificate_register_are_refused(demo, issued, sql):
    from stdm_plugin.core.store.errors import ValidationError

    certificate, _claim = issued
    before = register_state(demo)
    with pytest.raises(ValidationError, match="reprint, revoke or supersede"):
        with demo.transaction():
            demo.db.execute(sql, (certificate.certificate_id,))
    assert register_state(demo) == before


def test_revoke_and_reprint_still_work_through_their_acts(demo, issued, tmp_path):
    from certificate_samples import render_to

    from stdm_plugin.core.certificates.certificates import find_certificate, reprint, revoke

    certificate, _claim = issued
    reprint(demo, certificate.number, render_to, str(tmp_path / "again"))
    assert find_certificate(demo, certificate.number).print_count == 2
    revoke(demo, certificate.number, "boundary drawn wrong")
    assert find_certificate(demo, certificate.number).status == "revoked"


# --- 1. a merge writes a file outside the store -----------------------------------------------
def add_document_row(folder, parcel_id: str, relative: str, content: bytes) -> None:
    import hashlib

    with hostile_edit(folder) as con:
        con.execute("INSERT INTO supporting_document (id, spatial_unit_id, document_type, "
                    "file_name, mime_type, sha256, size_bytes, storage, relative_path) VALUES "
                    "('d0c5d0c5-0000-4000-8000-00000000e71l', ?, 'photo', 'evil.py', "
                    "'text/x-python', ?, ?, 'folder', ?)",
                    (parcel_id, hashlib.sha256(content).hexdigest(), len(content), relative))


def parcel_of_block(store, block: str) -> str:
    return store.db.scalar("SELECT id FROM spatial_unit WHERE block = ? AND kind = 'parcel' "
                           "ORDER BY code LIMIT 1", (block,))


def test_a_package_with_a_link_in_its_documents_writes_nothing_outside(demo, tmp_path):
    folder = cut_block(demo, tmp_path / "packages", "B5A")
    documents = folder / f"{PACKAGE_STORE}.documents"
    documents.mkdir()
    (documents / "s").symlink_to("../../..")
    payload = b"print('owned')\n"
    (tmp_path / "evil.py").write_bytes(payload)  # what the link and the row reach
    add_document_row(folder, parcel_of_block(demo, "B5A"), "s/../../../evil.py", payload)
    before = sorted(p for p in tmp_path.rglob("*") if "packages" not in p.parts)
    text = refused_merge(demo, folder, "document")
    assert "link" in text
    assert sorted(p for p in tmp_path.rglob("*") if "packages" not in p.parts) == before


def test_a_document_named_otherwise_than_the_plugin_names_them_is_refused(demo, tmp_path):
    folder = cut_block(demo, tmp_path / "packages", "B5A")
    documents = folder / f"{PACKAGE_STORE}.documents"
    (documents / "ab").mkdir(parents=True)
    payload = b"print('owned')\n"
    (documents / "ab" / "evil.py").write_bytes(payload)
    add_document_row(folder, parcel_of_block(demo, "B5A"), "ab/../../../../../evil.py", payload)
    text = refused_merge(demo, folder, "document")
    assert "names document files" in text
    assert not list(tmp_path.glob("evil.py"))


def test_a_package_holding_a_pipe_is_refused(demo, tmp_path):
    folder = cut_block(demo, tmp_path / "packages", "B5A")
    os.mkfifo(folder / "forms.pipe")
    assert "special file" in refused_merge(demo, folder, "document")


def test_a_document_target_never_leaves_the_documents_folder(tmp_path):
    from stdm_plugin.core.packages.package_files import inside

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ab").symlink_to(tmp_path)
    with pytest.raises(FieldPackageError, match="leaves"):
        inside(str(tmp_path / "docs"), "ab/evil.py")
    with pytest.raises(FieldPackageError, match="leaves"):
        inside(str(tmp_path / "docs"), "../evil.py")
    assert inside(str(tmp_path / "docs"), "cd/" + "cd" * 32).startswith(
        os.path.realpath(tmp_path / "docs") + os.sep)


# --- 7. a backup bomb -------------------------------------------------------------------------
BOMB_BYTES = 64 << 20  # a 64 MiB store entry that deflates to about 64 KiB


def bomb(backup: pathlib.Path, out: pathlib.Path, *, honest_manifest: bool) -> pathlib.Path:
    """``backup`` with its store entry replaced by zeros, the manifest recomputed to match
    (honest) or left promising the real size (not), and signed with the store's backup key:
    the size checks hold even for a backup that is signed (or accepted unsigned)."""
    import hashlib
    import json
    import zipfile

    from stdm_plugin.core.safety.backup_keys import BackupKeyring, manifest_mac

    with zipfile.ZipFile(backup) as source:
        manifest = json.loads(source.read("manifest.json"))
        others = {n: source.read(n) for n in source.namelist()
                  if n not in ("manifest.json", "store.sqlite")}
    if honest_manifest:
        manifest["database"] = {"name": "store.sqlite", "size_bytes": BOMB_BYTES,
                                "sha256": hashlib.sha256(bytes(BOMB_BYTES)).hexdigest()}
    raw_manifest = json.dumps(manifest).encode()
    key = BackupKeyring.default().key_for(manifest["store_id"])
    others["manifest.mac"] = manifest_mac(key, raw_manifest).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        target.writestr("manifest.json", raw_manifest)
        with target.open("store.sqlite", "w", force_zip64=True) as entry:
            for _ in range(BOMB_BYTES >> 20):
                entry.write(bytes(1 << 20))
        for name, data in others.items():
            target.writestr(name, data)
    assert out.stat().st_size < BOMB_BYTES // 100
    return out


@pytest.fixture
def demo_backup(demo_template, tmp_path) -> pathlib.Path:
    from stdm_plugin.core.safety.backup import backup_store

    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    with SettlementStore.open(path, actor="red-team") as store:
        return backup_store(store, tmp_path / "demo-backup.zip")


def restore_refused(backup: pathlib.Path, tmp_path: pathlib.Path, match: str,
                    **options) -> None:
    from stdm_plugin.core.safety.backup import BackupError, restore_store

    folder = tmp_path / "restored"
    folder.mkdir(exist_ok=True)
    with pytest.raises(BackupError, match=match) as refused:
        restore_store(backup, folder / "store.sqlite", **options)
    assert "Nothing was restored" in str(refused.value)
    assert list(folder.iterdir()) == []


# --- 6. an edited backup ------------------------------------------------------------------
def test_an_edited_backup_with_recomputed_checksums_is_refused(demo_backup, tmp_path):
    """The attack of issue #14 point 6: an administrator added to the store inside a backup,
    its SHA-256, size and row counts recomputed in the manifest, the zip written again."""
    from backup_samples import DROP, add_administrator, forged

    from stdm_plugin.core.safety.backup import Acceptance

    attack = forged(demo_backup, tmp_path / "attack.zip", add_administrator)
    restore_refused(attack, tmp_path, "changed after it was made")
    restore_refused(attack, tmp_path, "changed after it was made",  # no override either
                    accept_unverified=Acceptance("intruder", "taken-over", "trust me"))
    stripped = forged(demo_backup, tmp_path / "stripped.zip", add_administrator, DROP)
    restore_refused(stripped, tmp_path, "cannot be authenticated")  # without its signature
    # what is recorded, not prevented: the intruder is an administrator of the edited store,
    # so can accept it; the acceptance names them and the backup's checksum, in the store
    restored = tmp_path / "restored" / "store.sqlite"
    with restore_store_accepted(stripped, restored, "intruder", "taken-over") as store:
        [event] = store.db.query("SELECT event, happened_by FROM store_event "
                                 "WHERE event <> 'key_created'")
    assert (event["event"], event["happened_by"]) == ("unverified_backup_accepted", "intruder")


def restore_store_accepted(backup, target, login, password):
    from stdm_plugin.core.safety.backup import Acceptance, restore_store

    return restore_store(backup, target, accept_unverified=Acceptance(login, password, "ok"))


def test_a_backup_whose_manifest_is_oversized_is_refused_unread(demo_backup, tmp_path,
                                                                monkeypatch):
    """The manifest is read whole, so its size is checked first (a bomb of its own)."""
    from stdm_plugin.core.safety import backup

    monkeypatch.setattr(backup, "MAX_MANIFEST_BYTES", 512)  # the demo's is larger than that
    restore_refused(demo_backup, tmp_path, "manifest larger than")


def test_a_backup_whose_store_expands_past_its_manifest_is_refused_unextracted(
        demo_backup, tmp_path, monkeypatch):
    from stdm_plugin.core.safety import backup

    monkeypatch.setattr(backup, "_extract_checked", lambda *a: pytest.fail("extracted"))
    forged = bomb(demo_backup, tmp_path / "bomb.zip", honest_manifest=False)
    restore_refused(forged, tmp_path, "promises")


def test_a_backup_larger_than_the_free_space_is_refused_unextracted(demo_backup, tmp_path,
                                                                    monkeypatch):
    from collections import namedtuple

    from stdm_plugin.core.safety import backup

    forged = bomb(demo_backup, tmp_path / "bomb.zip", honest_manifest=True)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(backup.shutil, "disk_usage",
                        lambda path: usage(1 << 40, (1 << 40) - (32 << 20), 32 << 20))
    monkeypatch.setattr(backup, "_extract_checked", lambda *a: pytest.fail("extracted"))
    restore_refused(forged, tmp_path, "needs 64 MiB")


def test_extraction_stops_at_the_size_an_entry_declares(tmp_path):
    import hashlib
    import io

    from stdm_plugin.core.safety.backup import _copy

    digest = hashlib.sha256()
    target = open(tmp_path / "out", "wb")
    with target:
        assert _copy(io.BytesIO(bytes(5 << 20)), target, digest, 1 << 20) == (1 << 20) + 1
    assert (tmp_path / "out").stat().st_size <= 1 << 20


# --- what cannot be prevented, detected --------------------------------------------------------
def test_raw_edits_made_after_dropping_the_rules_are_found_by_the_consistency_check(
        demo_template, tmp_path):
    """Whoever can write the file can drop the rules first; the check finds what they did."""
    import sqlite3

    from certificate_samples import render_to

    from stdm_plugin.core.certificates.batch import approved_parcels
    from stdm_plugin.core.certificates.certificates import issue_certificate
    from stdm_plugin.core.safety.consistency import (
        ADJUDICATION_UNTRACED,
        CERTIFICATE_UNTRACED,
        check_store,
    )

    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    with SettlementStore.open(path, actor="red-team") as store:
        sign_in_as(store, "land_officer")
        parcel = approved_parcels(store, block="B2A")[0]
        issued = issue_certificate(store, parcel, render_to, str(tmp_path), today="2026-10-20")
        assert [f for f in check_store(store).findings
                if f.kind in (ADJUDICATION_UNTRACED, CERTIFICATE_UNTRACED)] == []
        claim = claims_of_block(store, "B5A", "enumerated")[0]
    con = sqlite3.connect(path)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                               "AND name NOT LIKE 'audit_%'").fetchall():
        con.execute(f'DROP TRIGGER "{name}"')
    con.execute("UPDATE social_tenure SET adjudication_state = 'approved' WHERE id = ?",
                (claim["id"],))
    con.execute("UPDATE certificate SET status = 'revoked' WHERE number = ?", (issued.number,))
    con.commit()
    con.close()
    with SettlementStore.open(path, actor="red-team") as store:
        found = {(f.kind, f.record_id) for f in check_store(store).findings}
    assert (ADJUDICATION_UNTRACED, claim["id"]) in found
    assert (CERTIFICATE_UNTRACED, issued.certificate_id) in found


# --- 9. passwords -------------------------------------------------------------------------------
def test_an_account_needs_a_password_and_an_empty_one_never_signs_in(demo):
    from stdm_plugin.core.store.errors import PermissionDeniedError, ValidationError
    from stdm_plugin.core.store.users import sign_in

    sign_in_as(demo, "administrator")
    for empty in ("", None):
        with pytest.raises(ValidationError, match="Give a password"):
            demo.users.create("nopw", "No Password", "enumerator", empty)
    assert demo.users.by_login("nopw") is None
    with demo.transaction():  # an account an older plugin made without one
        demo.db.execute("UPDATE app_user SET password_hash = NULL WHERE login = 'officer'")
    for empty in ("", None):
        with pytest.raises(PermissionDeniedError, match="wrong password"):
            sign_in(demo, "officer", empty)


def test_wrong_passwords_lock_the_account_in_the_store(demo):
    from stdm_plugin.core.store.errors import PermissionDeniedError
    from stdm_plugin.core.store.users import FREE_ATTEMPTS, sign_in

    for _ in range(FREE_ATTEMPTS):
        with pytest.raises(PermissionDeniedError, match="wrong password"):
            sign_in(demo, "officer", "guess")
    with pytest.raises(PermissionDeniedError, match="locked until"):
        sign_in(demo, "officer", "demo-officer")  # even the right one, while locked
    with demo.reopen() as other:  # the lock is in the store, not in this session
        row = other.db.query_one("SELECT failed_sign_ins, locked_until, updated_by "
                                 "FROM app_user WHERE login = 'officer'")
        assert row["failed_sign_ins"] == FREE_ATTEMPTS and row["locked_until"]
        assert row["updated_by"] == "officer"  # in the name the attempts were made in
        with pytest.raises(PermissionDeniedError, match="locked until"):
            sign_in(other, "officer", "demo-officer")
    sign_in_as(demo, "administrator")
    demo.users.set_password("officer", "a-new-one")  # the administrator's reset lifts it
    assert sign_in(demo, "officer", "a-new-one").login == "officer"
    assert demo.db.scalar("SELECT failed_sign_ins FROM app_user WHERE login = 'officer'") == 0


def test_a_lock_doubles_with_each_further_wrong_password(demo):
    import datetime as dt

    from stdm_plugin.core.store.users import FREE_ATTEMPTS, LOCK_SECONDS, _count_failure

    user = demo.users.by_login("officer")
    waits = []
    for failures in range(FREE_ATTEMPTS - 1, FREE_ATTEMPTS + 3):
        user.failed_sign_ins = failures
        before = dt.datetime.now(dt.timezone.utc)
        _count_failure(demo, user, "2026-12-07T00:00:00.000Z")
        until = demo.db.scalar("SELECT locked_until FROM app_user WHERE login = 'officer'")
        waits.append(round((dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
                            - before).total_seconds()))
    assert waits == [LOCK_SECONDS, 2 * LOCK_SECONDS, 4 * LOCK_SECONDS, 8 * LOCK_SECONDS]


def test_changing_ones_own_password_needs_the_old_one(demo):
    from stdm_plugin.core.store.errors import PermissionDeniedError
    from stdm_plugin.core.store.users import sign_in

    sign_in_as(demo, "land_officer")
    with pytest.raises(PermissionDeniedError, match="old password is wrong"):
        demo.users.change_own_password("not-it", "mine-now")
    with pytest.raises(PermissionDeniedError, match="manage users"):
        demo.users.set_password("officer", "mine-now")  # a reset is an administrator's
    demo.users.change_own_password("demo-officer", "mine-now")
    assert sign_in(demo, "officer", "mine-now").login == "officer"
    sign_in_as(demo, "administrator")
    demo.users.set_password("supervisor", "reset-by-admin")
    logged = demo.db.query_one("SELECT changed_by FROM audit_log WHERE table_name = 'app_user' "
                               "ORDER BY id DESC LIMIT 1")
    assert logged["changed_by"] == "admin"


# --- 4. who did it ------------------------------------------------------------------------------
def test_the_history_names_the_session_not_what_a_row_claims(demo):
    claim = claims_of_block(demo, "B5A", "enumerated")[0]
    sign_in_as(demo, "supervisor")
    with demo.transaction():
        demo.db.execute("UPDATE social_tenure SET remarks = 'seen', updated_by = 'admin' "
                        "WHERE id = ?", (claim["id"],))
    logged = demo.db.query_one("SELECT changed_by FROM audit_log WHERE record_id = ? "
                               "ORDER BY id DESC LIMIT 1", (claim["id"],))
    assert logged["changed_by"] == "supervisor"


def test_an_edit_made_outside_the_plugin_is_recorded_as_such(demo_template, tmp_path):
    import sqlite3

    path = tmp_path / "demo.sqlite"
    shutil.copyfile(demo_template, path)
    with SettlementStore.open(path, actor="red-team") as store:
        claim = claims_of_block(store, "B5A", "enumerated")[0]
        sign_in_as(store, "land_officer")
        store.tenure.update(claim["id"], remarks="by the officer")  # the last editor
    con = sqlite3.connect(path)  # the sqlite3 shell, or QGIS without the plugin
    con.execute("UPDATE social_tenure SET remarks = 'quietly' WHERE id = ?", (claim["id"],))
    con.execute("UPDATE social_tenure SET remarks = 'as admin', updated_by = 'admin' "
                "WHERE id = ?", (claim["id"],))
    con.commit()
    con.close()
    with SettlementStore.open(path, actor="red-team") as store:
        log = [r["changed_by"] for r in store.db.query(
            "SELECT changed_by FROM audit_log WHERE record_id = ? ORDER BY id", (claim["id"],))]
    assert log[-3:] == ["officer", "outside the plugin", "outside the plugin: admin"]


# --- 8. the office's private key in the store ---------------------------------------------------
def test_a_copy_of_the_store_does_not_sign_certificates(demo, tmp_path):
    """Whoever holds the file, even knowing the officers' passwords, gets the office key only
    encrypted: without its passphrase nothing is signed, and the key cannot be swapped."""
    from stdm_plugin.core.certificates.certificates import issue_certificate
    from stdm_plugin.core.certificates.key_vault import WrongPassphraseError, is_protected, protect
    from stdm_plugin.core.certificates.office_keys import OfficeKeyLockedError, unlock_office_key
    from stdm_plugin.core.store.errors import ValidationError
    from stdm_plugin.core.store.users import sign_in

    [stored] = [r["private_key"] for r in demo.db.query(
        "SELECT private_key FROM office_key WHERE retired_at IS NULL")]
    assert is_protected(stored)
    sign_in(demo, "officer", "demo-officer")
    for guess in ("demo-officer", "demo-admin", "Demo land office, Koumassi", "password123"):
        with pytest.raises(WrongPassphraseError):
            unlock_office_key(demo, guess)
    parcel = demo.db.scalar("SELECT u.id FROM spatial_unit u JOIN social_tenure t ON "
                            "t.spatial_unit_id = u.id WHERE t.adjudication_state = 'approved' "
                            "LIMIT 1")
    with pytest.raises(OfficeKeyLockedError):
        issue_certificate(demo, parcel, lambda sheet, path: None, str(tmp_path / "out"))
    # swapping the private part for one under a passphrase the attacker knows is refused
    with pytest.raises(ValidationError, match="only retired"):
        with demo.transaction():
            demo.db.execute("UPDATE office_key SET private_key = ? WHERE retired_at IS NULL",
                            (protect(bytes(32), "the attacker's own passphrase"),))
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_a_key_written_into_the_file_signs_nothing_the_office_vouches_for(demo, tmp_path):
    """Detected, not prevented: a program with write access adds a key of its own and signs
    with it. The office's published key file does not know it, and the consistency check
    names it."""
    import base64
    import json

    from stdm_plugin.core.certificates import ed25519
    from stdm_plugin.core.certificates.office_keys import OfficeKey, export_public_keys
    from stdm_plugin.core.certificates.signing import b64url, key_id_of, signed_message
    from stdm_plugin.core.certificates.verification import verify_offline
    from stdm_plugin.core.safety.consistency import KEY_UNTRACED, check_store
    from stdm_plugin.core.store.store import utc_now

    published = [OfficeKey(**k) for k in json.loads(export_public_keys(demo))["keys"]]
    rogue = ed25519.generate_private_key()
    public_raw = ed25519.public_key(rogue)
    rogue_id = key_id_of(public_raw)
    with demo.transaction():
        demo.db.execute("UPDATE office_key SET retired_at = ? WHERE retired_at IS NULL",
                        (utc_now(),))
        demo.db.execute(
            "INSERT INTO office_key (id, office_name, public_key, private_key, created_at, "
            "created_by) VALUES (?, 'Demo land office, Koumassi', ?, '', ?, 'admin')",
            (rogue_id, base64.b64encode(public_raw).decode(), utc_now()))
    message = signed_message("KOU-2026-000999", "ab" * 32, rogue_id, utc_now()[:10])
    payload = f"{message}|{b64url(ed25519.sign(rogue, message.encode()))}"
    offline = verify_offline(published, payload)
    assert (offline.status, offline.reason) == ("forged", "unknown_key")
    findings = [f for f in check_store(demo).findings if f.kind == KEY_UNTRACED]
    assert [f.record_id for f in findings] == [rogue_id]
    assert "not made by the plugin" in findings[0].detail
