"""The consistency check finds what was planted behind the store's back, on both backends.

Each problem is planted the way it happens in the field: plain SQL from
another connection (as QGIS's own provider or a database tool writes),
files changed or lost beside the store, a damaged page. Nothing is dropped
or disabled: the database rules refuse what they can, the check finds the rest.
"""
import csv
import os
import pathlib
import sqlite3

import pytest
from shapely.geometry import Polygon, box

from stdm_plugin.core import Party, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.safety.consistency import (
    DOCUMENT_CHECKSUM,
    DOCUMENT_MISSING,
    EMPTY_GEOMETRY,
    FOREIGN_KEY,
    INTEGRITY,
    INVALID_GEOMETRY,
    ORPHAN,
    SHARE_OVER_ONE,
    check_store,
)
from stdm_plugin.core.store.spatialite import load_spatialite
from stdm_plugin.core.store.store import utc_now

DEMO = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"
INSERT_TENURE = ("INSERT INTO social_tenure (party_id, spatial_unit_id, tenure_type, "
                 "share_numerator, share_denominator) VALUES (?, ?, ?, ?, ?)")


def found(report, kind):
    return {(f.table, f.record_id) for f in report.findings if f.kind == kind}


def claim(store, party, unit, n=1, d=1, tenure_type="owner"):
    return store.tenure.add(SocialTenure(party_id=party.id, spatial_unit_id=unit.id,
                                         tenure_type=tenure_type, share_numerator=n,
                                         share_denominator=d))


def retire_behind_the_back(outside, table, record_id):
    """What a plain SQL UPDATE does: the repository's refusal is not asked."""
    outside.execute(f"UPDATE {table} SET end_lifespan_version = ? WHERE id = ?",
                    (utc_now(), record_id))


def without_foreign_keys(store):
    """A connection as most SQLite tools open one: foreign keys are off by SQLite's default."""
    if store.db.dialect != "spatialite":
        pytest.skip("PostgreSQL enforces foreign keys on every connection")
    con = sqlite3.connect(store.path, isolation_level=None)
    load_spatialite(con)
    return con


def test_a_fresh_store_and_the_demo_settlement_are_consistent(store):
    assert check_store(store).ok
    load_demo_settlement(store, DEMO)
    report = check_store(store)
    assert report.findings == []
    assert report.ok
    assert report.summary().startswith("No problems found")


def test_tenure_whose_party_or_parcel_was_retired_is_an_orphan(store, settlement, parcel,
                                                               person, household, outside):
    other = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                                boundary=box(400100, 590000, 400120, 590015)))
    on_parcel = claim(store, person, parcel)
    of_household = claim(store, household, other, 1, 2)
    retire_behind_the_back(outside, "party", person.id)
    retire_behind_the_back(outside, "spatial_unit", other.id)
    orphans = found(check_store(store), ORPHAN)
    assert ("social_tenure", on_parcel.id) in orphans
    assert ("social_tenure", of_household.id) in orphans
    details = [f.detail for f in check_store(store).findings if f.record_id == on_parcel.id]
    assert any("was retired" in d and person.id in d for d in details)


def test_retired_tenure_on_a_retired_party_is_history_not_a_finding(store, parcel, person):
    held = claim(store, person, parcel)
    store.tenure.retire(held.id)
    store.parties.retire(person.id)
    assert check_store(store).ok


def test_member_of_a_retired_household_and_structure_on_a_retired_parcel(
        store, settlement, parcel, household, person, outside):
    structure = store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=settlement.id, parcel_id=parcel.id,
        boundary=box(400002, 590002, 400008, 590008)))
    retire_behind_the_back(outside, "party", household.id)
    retire_behind_the_back(outside, "spatial_unit", parcel.id)
    orphans = found(check_store(store), ORPHAN)
    assert orphans == {("party", person.id), ("spatial_unit", structure.id)}


def test_deleted_records_leave_orphans_and_broken_foreign_keys(store, settlement, parcel,
                                                               household, person):
    con = without_foreign_keys(store)
    neighbour = store.parties.add(Party(first_name="Issa", last_name="Traoré"))
    held = claim(store, neighbour, parcel)
    photo = store.documents.attach(b"\xff\xd8\xff photo", "issa.jpg", document_type="photo",
                                   party_id=neighbour.id)
    structure = store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=settlement.id, parcel_id=parcel.id,
        location=box(400002, 590002, 400008, 590008).centroid))
    try:
        con.execute("DELETE FROM party WHERE id = ?", (neighbour.id,))
        con.execute("DELETE FROM party WHERE id = ?", (household.id,))
        con.execute("DELETE FROM social_tenure WHERE id = ?", (held.id,))
        con.execute("DELETE FROM spatial_unit WHERE id = ?", (parcel.id,))
    finally:
        con.close()
    report = check_store(store)
    assert found(report, ORPHAN) == {("supporting_document", photo.id), ("party", person.id),
                                     ("spatial_unit", structure.id)}
    assert found(report, FOREIGN_KEY) == found(report, ORPHAN)
    assert any("does not exist" in f.detail for f in report.findings)


def test_shares_just_over_one_slip_past_float_rules_but_not_the_check(store, parcel, person,
                                                                      household, outside):
    outside.execute(INSERT_TENURE, (person.id, parcel.id, "co_owner", 1, 2))
    # 1/2 + 1000000001/2000000000 = 1 + 1/2000000000: within the triggers' float tolerance
    outside.execute(INSERT_TENURE, (household.id, parcel.id, "co_owner", 1000000001,
                                    2000000000))
    report = check_store(store)
    assert found(report, SHARE_OVER_ONE) == {("spatial_unit", parcel.id)}
    assert "2000000001/2000000000" in report.findings[0].detail
    assert parcel.code in report.findings[0].detail


def test_shares_of_exactly_one_are_fine(store, parcel, person, household):
    claim(store, person, parcel, 1, 3)
    claim(store, household, parcel, 2, 3)
    assert check_store(store).ok


def test_changed_and_lost_documents(store, person, parcel, outside):
    embedded = store.documents.attach(b"%PDF-1.7 attestation", "attestation.pdf",
                                      document_type="other", party_id=person.id)
    outside.execute("UPDATE supporting_document SET content = ? WHERE id = ?",
                    (b"%PDF-1.7 forged", embedded.id))
    expected_changed = {("supporting_document", embedded.id)}
    expected_lost = set()
    if store.documents_dir is not None:
        edited = store.documents.attach(b"signed form v1", "form.txt",
                                        document_type="signed_form", party_id=person.id,
                                        storage="folder")
        lost = store.documents.attach(b"\x89PNG\r\n\x1a\n plan", "plan.png",
                                      document_type="photo", spatial_unit_id=parcel.id,
                                      storage="folder")
        with open(os.path.join(store.documents_dir, edited.relative_path), "wb") as handle:
            handle.write(b"signed form v2")
        os.remove(os.path.join(store.documents_dir, lost.relative_path))
        expected_changed.add(("supporting_document", edited.id))
        expected_lost.add(("supporting_document", lost.id))
    report = check_store(store)
    assert found(report, DOCUMENT_CHECKSUM) == expected_changed
    assert found(report, DOCUMENT_MISSING) == expected_lost


def test_invalid_and_missing_geometries(store, settlement, parcel, outside):
    other = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                                boundary=box(400100, 590000, 400120, 590015)))
    bowtie = Polygon([(400000, 590000), (400020, 590015), (400020, 590000),
                      (400000, 590015), (400000, 590000)])
    outside.execute(f"UPDATE spatial_unit SET boundary = "
                    f"{outside.geometry_param(store.srid, multi=True)} WHERE id = ?",
                    (bowtie.wkb, parcel.id))
    outside.execute("UPDATE spatial_unit SET boundary = NULL WHERE id = ?", (other.id,))
    report = check_store(store)
    assert found(report, INVALID_GEOMETRY) == {("spatial_unit", parcel.id)}
    assert "Self-intersection" in next(f.detail for f in report.findings
                                       if f.kind == INVALID_GEOMETRY)
    assert found(report, EMPTY_GEOMETRY) == {("spatial_unit", other.id)}


def test_audit_entries_of_records_that_never_existed_are_not_findings(store, outside):
    outside.execute("INSERT INTO audit_log (table_name, record_id, action, changed_by) "
                    "VALUES ('party', 'never-existed', 'delete', 'someone')")
    assert check_store(store).ok


def test_a_damaged_index_page_is_reported(store, tmp_path):
    if store.db.dialect != "spatialite":
        pytest.skip("page-level checks are SQLite's; PostgreSQL has no client-side equivalent")
    load_demo_settlement(store, DEMO)
    con = store.db.connection
    root = con.execute("SELECT rootpage FROM sqlite_master "
                       "WHERE name = 'social_tenure_party_idx'").fetchone()[0]
    page_size = con.execute("PRAGMA page_size").fetchone()[0]
    copy = tmp_path / "damaged.sqlite"
    store.copy_to(copy)
    with open(copy, "r+b") as handle:  # the end of the page holds the index cells
        handle.seek(root * page_size - 300)
        handle.write(b"\x07" * 300)
    with SettlementStore.open(copy) as damaged:
        report = check_store(damaged)
    assert not report.ok
    assert {f.kind for f in report.findings} == {INTEGRITY}
    assert any("social_tenure_party_idx" in f.detail for f in report.findings)


def test_summary_and_csv(store, parcel, person, outside, tmp_path):
    held = claim(store, person, parcel)
    retire_behind_the_back(outside, "party", person.id)
    report = check_store(store)
    assert report.summary().startswith("1 problem(s) found in")
    assert "references to missing or retired records: 1" in report.summary()
    path = report.write_csv(tmp_path / "findings.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["kind"], r["table"], r["record_id"]) for r in rows] == [
        (ORPHAN, "social_tenure", held.id)]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".consistency-")]


# --- the certificate register (schema 5) -------------------------------------------------
def _certified(store, tmp_path):
    from certificate_samples import FakeRender, approved_parcels_for_test, with_people

    from stdm_plugin.core.certificates.certificates import issue_certificate

    with_people(store)
    unit = approved_parcels_for_test(store, 1)[0]
    issued = issue_certificate(store, unit.id, FakeRender(), str(tmp_path))
    return unit, issued


def test_a_certificate_still_matching_its_parcel_is_consistent(store, tmp_path):
    _certified(store, tmp_path)
    assert check_store(store).ok


def test_a_tampered_register_entry_is_reported(store, outside, tmp_path):
    unit, issued = _certified(store, tmp_path)
    # past the frozen-columns trigger (a raw file edit would do the same)
    drop = ("DROP TRIGGER certificate_frozen" if store.db.dialect == "spatialite"
            else "ALTER TABLE certificate DISABLE TRIGGER certificate_kept")
    outside.execute(drop)
    outside.execute("UPDATE certificate SET snapshot = replace(snapshot, 'Koné', 'Kone')")
    [finding] = check_store(store).findings
    assert finding.kind == "certificate_tampered" and issued.number in finding.detail


def test_a_certificate_whose_parcel_changed_is_reported_stale(store, outside, tmp_path):
    unit, issued = _certified(store, tmp_path)
    outside.execute("UPDATE spatial_unit SET boundary = "
                    + ("ST_Multi(ST_Buffer(boundary, 1))" if store.db.dialect == "postgis"
                       else "CastToMulti(ST_Buffer(boundary, 1))") + " WHERE id = ?", (unit.id,))
    [finding] = check_store(store).findings
    assert finding.kind == "certificate_stale"
    assert f"Certificate {issued.number} is valid but the parcel boundary changed" in (
        finding.detail)
