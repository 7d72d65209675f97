"""Cutting field packages and merging them back (issue #5), on both backends."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest
from package_samples import (
    X0,
    Y0,
    add_claim,
    add_parcel,
    add_person,
    counts,
    cut,
    field_edit,
    live,
    small_world,
)

from stdm_plugin.core import Party, SettlementStore, SocialTenure
from stdm_plugin.core.packages.apply import apply_merge, merge_package
from stdm_plugin.core.packages.field_package import (
    MANIFEST,
    PACKAGE_STORE,
    PackageRequest,
    cut_package,
    read_manifest,
)
from stdm_plugin.core.packages.merge import analyse_merge
from stdm_plugin.core.store.errors import (
    FieldPackageError,
    PackageCancelledError,
    PermissionDeniedError,
)
from stdm_plugin.core.store.users import sign_in


@pytest.fixture
def world(store):
    return small_world(store)


def package_ids(folder, table):
    con = sqlite3.connect(os.path.join(folder, PACKAGE_STORE))
    try:
        return {r[0] for r in con.execute(f"SELECT id FROM {table}")}
    finally:
        con.close()


# --- cutting ------------------------------------------------------------------
def test_a_package_holds_the_area_its_claims_households_and_nothing_else(store, world, tmp_path):
    folder = tmp_path / "pkg"
    package = cut_package(store, folder, PackageRequest(
        team="Equipe A", blocks=["B1"], enumerators=["moussa", "aya"], device="tablet-07"),
        forms_dir="forms")
    assert package.folder == str(folder) and os.path.isfile(folder / MANIFEST)
    assert sorted(os.listdir(folder / "forms")) == sorted(
        f for f in os.listdir("forms") if not f.startswith("__"))
    assert package_ids(folder, "spatial_unit") == {world["p1"], world["p2"]}
    assert package_ids(folder, "social_tenure") == {world["claim"]}
    assert package_ids(folder, "party") == {world["awa"], world["home"]}  # not Kofi (block B2)
    assert package.counts == {"party": 2, "spatial_unit": 2, "social_tenure": 1,
                              "supporting_document": 0}
    manifest = read_manifest(folder)
    assert (manifest.team, manifest.enumerators, manifest.device) == (
        "Equipe A", ["moussa", "aya"], "tablet-07")
    assert manifest.store_id == store.store_id and manifest.srid == store.srid
    # the package is a store of its own: it opens, and says which package it is
    with SettlementStore.open(folder / PACKAGE_STORE) as opened:
        assert opened.db.scalar("SELECT count(*) FROM lookup") == store.db.scalar(
            "SELECT count(*) FROM lookup")
        assert opened.db.scalar("SELECT team FROM field_package") == "Equipe A"
        assert opened.db.scalar("SELECT count(*) FROM audit_log") == 0  # no noise from the cut
    # and the store remembers what it cut, record by record
    assert store.db.scalar("SELECT count(*) FROM field_package_base WHERE package_id = ?",
                           (package.id,)) == 5


def test_the_margin_brings_neighbours_and_a_drawn_area_works(store, world, tmp_path):
    near = f"POLYGON(({X0 + 470} {Y0}, {X0 + 490} {Y0}, {X0 + 490} {Y0 + 10}, " \
           f"{X0 + 470} {Y0 + 10}, {X0 + 470} {Y0}))"
    cut(store, tmp_path / "tight", area_wkt=near, margin_m=5)
    assert package_ids(tmp_path / "tight", "spatial_unit") == set()
    cut(store, tmp_path / "wide", area_wkt=near, margin_m=15)
    assert package_ids(tmp_path / "wide", "spatial_unit") == {world["p3"]}
    assert package_ids(tmp_path / "wide", "party") == {world["kofi"]}


@pytest.mark.parametrize("request_, kind", [
    ({"blocks": []}, "area"),
    ({"blocks": ["Z9"]}, "area"),
    ({"area_wkt": "POLYGON((0 0, 1 1"}, "area"),
    ({"area_wkt": "LINESTRING(0 0, 1 1)"}, "area"),
    ({"blocks": ["B1"], "team": "  "}, "area"),
])
def test_a_cut_without_a_usable_area_is_refused(store, world, tmp_path, request_, kind):
    before = counts(store)
    with pytest.raises(FieldPackageError) as refused:
        cut_package(store, tmp_path / "pkg", PackageRequest(**{"team": "A", **request_}))
    assert refused.value.kind == kind
    assert counts(store) == before
    assert [f for f in os.listdir(tmp_path) if f.startswith("pkg")] == []


def test_a_cut_never_overwrites_and_a_cancelled_cut_leaves_nothing(store, world, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("keep me")
    with pytest.raises(FieldPackageError) as refused:
        cut(store, tmp_path / "full", blocks=["B1"])
    assert refused.value.kind == "target_exists"
    assert (tmp_path / "full" / "notes.txt").read_text() == "keep me"
    before = counts(store)
    with pytest.raises(PackageCancelledError):
        cut_package(store, tmp_path / "pkg", PackageRequest(team="A", blocks=["B1"]),
                    cancelled=lambda: True)
    assert counts(store) == before
    assert [f for f in os.listdir(tmp_path) if f.startswith("pkg")] == []


def test_personal_data_can_stay_in_the_office(store, world, tmp_path):
    """Issue #7: a package can leave out or pseudonymise names, ID and phone numbers."""
    store.documents.attach(b"%PDF-1.4 scan of an ID card", "id.pdf", document_type="id_scan",
                           party_id=world["awa"])
    store.documents.attach(b"\x89PNG photo of the house", "house.png", document_type="photo",
                           spatial_unit_id=world["p1"])
    secrets = [b"CI0012345", b"07 11 22 33", "Koné".encode(), b"Awa", b"scan of an ID card"]
    for mode in ("omit", "pseudonymise"):
        folder = cut(store, tmp_path / mode, blocks=["B1"], personal_data=mode)
        data = b"".join(open(os.path.join(root, name), "rb").read()
                        for root, _, names in os.walk(folder) for name in names)
        assert [s for s in secrets if s in data] == [], mode
        assert b"photo of the house" in data  # the parcel's photo travels
        # nothing the team left alone comes back as a change
        plan = analyse_merge(store, folder)
        assert plan.is_empty and plan.unchanged == 6, mode
    with field_edit(tmp_path / "pseudonymise") as con:
        con.execute("UPDATE party SET phone = '0101010101', updated_by = 'moussa' WHERE id = ?",
                    (world["awa"],))
    merge_package(store, str(tmp_path / "pseudonymise"))
    awa = live(store, "party", world["awa"])
    assert (awa["phone"], awa["first_name"], awa["id_document_number"]) == (
        "0101010101", "Awa", "CI0012345")


# --- merging ------------------------------------------------------------------
def test_field_edits_merge_with_provenance_and_a_second_merge_changes_nothing(
        store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"], device="tablet-07")
    with field_edit(folder) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'mixed', updated_by = 'aya' WHERE id = ?",
                    (world["p2"],))
        parcel = add_parcel(con, world["settlement"], (X0 + 40, Y0, X0 + 60, Y0 + 15), seq=4,
                            code="KOU-P00004")
        person = add_person(con, "Yao", "Kouassi", id_number="CI0444555", household=world["home"])
        claim = add_claim(con, person, parcel, "occupant")
        con.execute("DELETE FROM social_tenure WHERE id = ?", (world["claim"],))
        home = "4a4a4a4a-0000-4000-8000-000000000001"
        con.execute("INSERT INTO party (id, party_type, group_name, created_by, updated_by) "
                    "VALUES (?, 'household', 'Famille Kouassi', 'moussa', 'moussa')", (home,))
        con.execute("UPDATE party SET group_party_id = ? WHERE id = ?", (home, person))
        house = "5a5a5a5a-0000-4000-8000-000000000001"
        con.execute("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, parcel_id, "
                    "boundary, created_by, updated_by) VALUES (?, 'structure', ?, 1, "
                    "'KOU-S00001', ?, CastToMulti(GeomFromText(?, 32630)), 'moussa', 'moussa')",
                    (house, world["settlement"], parcel,
                     f"POLYGON(({X0 + 42} {Y0 + 2}, {X0 + 50} {Y0 + 2}, {X0 + 50} {Y0 + 9}, "
                     f"{X0 + 42} {Y0 + 9}, {X0 + 42} {Y0 + 2}))"))
    report = merge_package(store, folder)
    assert dict(report.counts) == {("spatial_unit", "changed"): 1, ("spatial_unit", "added"): 2,
                                   ("party", "added"): 2, ("social_tenure", "added"): 1,
                                   ("social_tenure", "deleted"): 1}
    assert dict(report.by_enumerator) == {
        ("aya", "spatial_unit", "changed"): 1, ("moussa", "spatial_unit", "added"): 2,
        ("moussa", "party", "added"): 2, ("moussa", "social_tenure", "added"): 1,
        ("moussa", "social_tenure", "deleted"): 1}
    assert live(store, "spatial_unit", house)["parcel_id"] == parcel
    assert live(store, "party", person)["group_party_id"] == home
    assert live(store, "spatial_unit", world["p2"])["land_use"] == "mixed"
    assert live(store, "social_tenure", world["claim"]) is None
    assert live(store, "social_tenure", claim)["party_id"] == person
    new = live(store, "spatial_unit", parcel)
    assert new["code"] == "KOU-P00004"
    package_id = read_manifest(folder).id
    for table, record_id, who in (("spatial_unit", parcel, "moussa"),
                                  ("spatial_unit", world["p2"], "aya"),
                                  ("party", person, "moussa")):
        row = live(store, table, record_id)
        assert (row["prov_team"], row["prov_device"], row["prov_enumerator"],
                row["prov_package"]) == ("Equipe A", "tablet-07", who, package_id)
        assert row["prov_at"]
    assert store.db.scalar("SELECT status FROM field_package WHERE id = ?",
                           (package_id,)) == "merged"
    before = counts(store)
    again = merge_package(store, folder)
    assert again.nothing_changed and again.already_merged == 1
    assert counts(store) == before


def test_a_package_sent_back_again_merges_only_what_is_new(store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    with field_edit(folder) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'mixed' WHERE id = ?", (world["p2"],))
    merge_package(store, folder)
    store.spatial_units.update(world["p1"], land_use="community")  # the office works on
    with field_edit(folder) as con:  # the team goes on with the same package
        con.execute("UPDATE party SET first_name = 'Awa Fanta' WHERE id = ?", (world["awa"],))
    plan = analyse_merge(store, folder)
    assert plan.conflicts == []
    assert [(c.table, c.action, c.columns) for c in plan.changes] == [
        ("party", "changed", ("first_name",))]
    apply_merge(store, plan)
    assert live(store, "spatial_unit", world["p1"])["land_use"] == "community"


def test_three_teams_edit_at_once_and_merge_into_one_store(store, world, tmp_path):
    """Issue #5's acceptance scenario: three packages, edited concurrently, merged in turn."""
    a = cut(store, tmp_path / "a", blocks=["B1"], team="A", enumerators=["ama"])
    b = cut(store, tmp_path / "b", blocks=["B2"], team="B", enumerators=["bintou"])
    c = cut(store, tmp_path / "c", blocks=["B1"], team="C", enumerators=["cheick"])
    with field_edit(a) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'mixed', updated_by = 'ama' "
                    "WHERE id = ?", (world["p1"],))
        a_parcel = add_parcel(con, world["settlement"], (X0, Y0 + 15, X0 + 20, Y0 + 30), seq=4,
                              code="KOU-P00004", who="ama")
        a_person = add_person(con, "Adjoua", "Yao", id_number="CI0333444", who="ama")
        a_claim = add_claim(con, a_person, a_parcel, who="ama")
    with field_edit(b) as con:
        con.execute("UPDATE social_tenure SET tenure_type = 'owner', updated_by = 'bintou' "
                    "WHERE spatial_unit_id = ?", (world["p3"],))
        b_parcel = add_parcel(con, world["settlement"], (X0 + 520, Y0, X0 + 540, Y0 + 15),
                              seq=4, code="KOU-P00004", block="B2", who="bintou")
    with field_edit(c) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'commercial', updated_by = 'cheick' "
                    "WHERE id = ?", (world["p1"],))
        con.execute("UPDATE spatial_unit SET land_use = 'vacant', updated_by = 'cheick' "
                    "WHERE id = ?", (world["p2"],))
        c_parcel = add_parcel(con, world["settlement"], (X0 + 1, Y0 + 15, X0 + 21, Y0 + 30),
                              seq=4, code="KOU-P00004", who="cheick")
        c_person = add_person(con, "Adjoua", "Yao", id_number="CI0333444", who="cheick")
        c_claim = add_claim(con, c_person, world["p2"], "tenant", who="cheick")
    before = {t: store.db.scalar(f"SELECT count(*) FROM {t} WHERE end_lifespan_version IS NULL")
              for t in ("party", "spatial_unit", "social_tenure")}
    assert merge_package(store, a).resolved == []
    assert merge_package(store, b).renumbered == {"KOU-P00004": "KOU-P00005"}
    plan = analyse_merge(store, c)
    assert sorted((x.kind, x.record_id, x.other_id) for x in plan.conflicts) == sorted([
        ("edited_both", world["p1"], None),
        ("overlapping_parcels", c_parcel, a_parcel),
        ("duplicate_person", c_person, a_person)])
    choice = {"edited_both": "theirs", "overlapping_parcels": "mine",
              "duplicate_person": "mine"}
    report = apply_merge(store, plan, resolutions={x.key: choice[x.kind] for x in plan.conflicts})
    assert report.counts[("spatial_unit", "changed")] == 2  # p2, and p1 by the resolution
    after = {t: store.db.scalar(f"SELECT count(*) FROM {t} WHERE end_lifespan_version IS NULL")
             for t in ("party", "spatial_unit", "social_tenure")}
    assert after == {"party": before["party"] + 1, "spatial_unit": before["spatial_unit"] + 2,
                     "social_tenure": before["social_tenure"] + 2}
    assert live(store, "spatial_unit", world["p1"])["land_use"] == "commercial"
    assert live(store, "spatial_unit", world["p2"])["land_use"] == "vacant"
    assert live(store, "spatial_unit", b_parcel)["code"] == "KOU-P00005"
    assert live(store, "social_tenure", a_claim)["spatial_unit_id"] == a_parcel
    assert live(store, "social_tenure", c_claim)["party_id"] == a_person  # the same Adjoua
    assert live(store, "spatial_unit", c_parcel) is None
    assert store.db.scalar("SELECT tenure_type FROM social_tenure WHERE spatial_unit_id = ?",
                           (world["p3"],)) == "owner"
    assert store.db.scalar("SELECT count(*) FROM merge_conflict") == 3
    assert {r["prov_team"] for r in store.db.query(
        "SELECT prov_team FROM spatial_unit WHERE prov_team IS NOT NULL")} == {"A", "B", "C"}
    for folder in (a, b, c):
        assert merge_package(store, folder).nothing_changed


# --- refusals -----------------------------------------------------------------
def refused(store, folder, kind):
    before = counts(store)
    with pytest.raises(FieldPackageError) as error:
        merge_package(store, str(folder), policy="theirs")
    assert error.value.kind == kind, str(error.value)
    assert counts(store) == before
    return str(error.value)


def test_a_package_from_another_store_is_refused(store, new_store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    other = new_store()
    small_world(other)
    assert "another store" in refused(other, folder, "other_store")


def test_a_package_cut_from_a_state_the_store_no_longer_has_is_refused(
        backend_name, store, world, tmp_path):
    if backend_name != "spatialite":
        pytest.skip("a SpatiaLite backup restored over the store file")
    shutil.copyfile(store.path, tmp_path / "backup.sqlite")  # before the cut
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    restored = SettlementStore.open(tmp_path / "backup.sqlite")
    try:
        assert "no longer has" in refused(restored, folder, "unknown_base")
    finally:
        restored.close()


@pytest.mark.parametrize("damage, kind", [
    ("truncate", "corrupt"),
    ("no_manifest", "not_a_package"),
    ("bad_manifest", "corrupt"),
    ("no_store", "corrupt"),
    ("other_manifest", "not_a_package"),
    ("older", "older_schema"),
    ("newer", "newer_schema"),
])
def test_damaged_or_foreign_packages_are_refused(store, world, tmp_path, damage, kind):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    with field_edit(folder) as con:  # work the team did, which must not half-arrive
        con.execute("UPDATE spatial_unit SET land_use = 'vacant' WHERE id = ?", (world["p2"],))
    database = os.path.join(folder, PACKAGE_STORE)
    manifest = os.path.join(folder, MANIFEST)
    if damage == "truncate":
        size = os.path.getsize(database)
        with open(database, "r+b") as handle:
            handle.truncate(size // 2)
    elif damage == "no_manifest":
        os.remove(manifest)
    elif damage == "bad_manifest":
        with open(manifest, "w") as handle:
            handle.write('{"id": "x", "team": ')
    elif damage == "no_store":
        os.remove(database)
    elif damage == "other_manifest":
        data = json.load(open(manifest))
        data["id"] = "00000000-0000-4000-8000-000000000000"
        json.dump(data, open(manifest, "w"))
    else:
        version = "6" if damage == "older" else "99"
        con = sqlite3.connect(database)
        con.execute("UPDATE stdm_store_info SET value = ? WHERE key = 'schema_version'",
                    (version,))
        con.commit()
        con.close()
    message = refused(store, folder, kind)
    assert "nothing was merged" in message.lower()
    assert live(store, "spatial_unit", world["p2"])["land_use"] == "residential"


def test_a_plan_made_before_the_store_changed_is_not_applied(store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    with field_edit(folder) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'vacant' WHERE id = ?", (world["p2"],))
    plan = analyse_merge(store, folder)
    store.parties.add(Party(first_name="Late", last_name="Arrival"))
    with pytest.raises(FieldPackageError) as stale:
        apply_merge(store, plan)
    assert stale.value.kind == "stale"
    assert live(store, "spatial_unit", world["p2"])["land_use"] == "residential"


def test_a_merge_that_breaks_a_rule_names_the_record_and_writes_nothing(store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    with field_edit(folder) as con:  # a new owner of all of P2 in the field...
        person = add_person(con, "Sali", "Bamba")
        add_claim(con, person, world["p2"])
    # ...and another in the office: together they would hold 2
    store.tenure.add(SocialTenure(party_id=world["kofi"], spatial_unit_id=world["p2"],
                                  tenure_type="tenant"))
    before = counts(store)
    with pytest.raises(FieldPackageError) as error:
        merge_package(store, folder)
    assert error.value.kind == "rule" and "social_tenure" in str(error.value)
    assert "more than 1" in str(error.value)
    assert counts(store) == before


def test_a_cancelled_merge_writes_nothing(store, world, tmp_path):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    with field_edit(folder) as con:
        add_person(con, "Sali", "Bamba")
    plan = analyse_merge(store, folder)
    before = counts(store)
    with pytest.raises(PackageCancelledError):
        apply_merge(store, plan, cancelled=lambda: True)
    assert counts(store) == before


def test_only_supervisors_and_land_officers_cut_and_merge(store, world, tmp_path):
    store.users.create("admin", "Adama Admin", "administrator", "pw-adm-123456")
    sign_in(store, "admin", "pw-adm-123456")
    store.users.create("ama", "Ama Enumératrice", "enumerator", "pw-ama-123456")
    store.users.create("sup", "Sery Superviseur", "supervisor", "pw-sup-123456")
    sign_in(store, "ama", "pw-ama-123456")
    with pytest.raises(PermissionDeniedError):
        cut(store, tmp_path / "pkg", blocks=["B1"])
    sign_in(store, "sup", "pw-sup-123456")
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    sign_in(store, "ama", "pw-ama-123456")
    with pytest.raises(PermissionDeniedError):
        merge_package(store, folder)


def test_photos_taken_in_the_field_come_in_checked(store, world, tmp_path):
    import hashlib

    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    photo = b"\xff\xd8\xff field photo of P2"
    digest = hashlib.sha256(photo).hexdigest()
    relative = f"{digest[:2]}/{digest}"
    os.makedirs(os.path.join(folder, PACKAGE_STORE + ".documents", digest[:2]))
    with open(os.path.join(folder, PACKAGE_STORE + ".documents", relative), "wb") as handle:
        handle.write(photo)
    with field_edit(folder) as con:
        con.execute("INSERT INTO supporting_document (id, spatial_unit_id, document_type, "
                    "file_name, mime_type, sha256, size_bytes, storage, relative_path) VALUES "
                    "('d0c5d0c5-0000-4000-8000-000000000001', ?, 'photo', 'p2.jpg', "
                    "'image/jpeg', ?, ?, 'folder', ?)", (world["p2"], digest, len(photo),
                                                        relative))
    merge_package(store, folder)
    document = store.documents.get("d0c5d0c5-0000-4000-8000-000000000001")
    assert store.documents.content(document.id) == photo
    assert store.documents.verify() == []


def test_a_changed_photo_file_is_refused(store, world, tmp_path, backend_name):
    folder = cut(store, tmp_path / "pkg", blocks=["B1"])
    relative = "ab/" + "ab" * 32
    os.makedirs(os.path.join(folder, PACKAGE_STORE + ".documents", "ab"))
    with open(os.path.join(folder, PACKAGE_STORE + ".documents", relative), "wb") as handle:
        handle.write(b"not what was photographed")
    with field_edit(folder) as con:
        con.execute("INSERT INTO supporting_document (id, spatial_unit_id, document_type, "
                    "file_name, mime_type, sha256, size_bytes, storage, relative_path) VALUES "
                    "('d0c5d0c5-0000-4000-8000-000000000002', ?, 'photo', 'p2.jpg', "
                    "'image/jpeg', ?, 10, 'folder', ?)", (world["p2"], "ab" * 32, relative))
    message = refused(store, folder, "document")
    assert "SHA-256" in message
    if store.documents_dir:
        assert not os.path.exists(os.path.join(store.documents_dir, relative))
