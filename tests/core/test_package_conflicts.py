"""Each conflict kind of issue #5 is found, and each resolution does what it says,
on both backends (the package itself is always a SpatiaLite file)."""
from __future__ import annotations

import json

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
from shapely.geometry import box

from stdm_plugin.core import Party, SocialTenure, SpatialUnit
from stdm_plugin.core.packages.apply import apply_merge, merge_package
from stdm_plugin.core.packages.merge import analyse_merge
from stdm_plugin.core.packages.merge_plan import (
    DELETED_IN_PACKAGE,
    DELETED_IN_STORE,
    DUPLICATE_PERSON,
    EDITED_BOTH,
    OVERLAPPING_PARCELS,
)
from stdm_plugin.core.store.errors import FieldPackageError


@pytest.fixture
def world(store, tmp_path):
    ids = small_world(store)
    ids["folder"] = cut(store, tmp_path / "pkg", blocks=["B1"])
    return ids


def merged_for_good(store, folder):
    """A second merge of the same package changes nothing, whatever was chosen."""
    before = counts(store)
    assert merge_package(store, folder).nothing_changed
    assert counts(store) == before


def only_conflict(plan, kind):
    assert [c.kind for c in plan.conflicts] == [kind], plan.conflicts
    return plan.conflicts[0]


@pytest.mark.parametrize("choice", ["mine", "theirs", "both"])
def test_edited_on_both_sides(store, world, choice):
    with field_edit(world["folder"]) as con:
        con.execute("UPDATE party SET first_name = 'Awa Fanta', updated_by = 'moussa' "
                    "WHERE id = ?", (world["awa"],))
    store.parties.update(world["awa"], first_name="Awa Aminata")
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, EDITED_BOTH)
    assert conflict.store_row["first_name"] == "Awa Aminata"
    assert conflict.package_row["first_name"] == "Awa Fanta"
    assert conflict.columns == ("first_name",) and conflict.enumerator == "moussa"
    report = apply_merge(store, plan, resolutions={conflict.key: choice})
    names = sorted(r["first_name"] for r in store.db.query(
        "SELECT first_name FROM party WHERE last_name = 'Koné' AND party_type = 'person' "
        "AND end_lifespan_version IS NULL"))
    expected = {"mine": ["Awa Aminata"], "theirs": ["Awa Fanta"],
                "both": ["Awa Aminata", "Awa Fanta"]}[choice]
    assert names == expected
    assert report.resolved == [(conflict, choice)]
    # the history keeps both versions: the register, and the audit log of the record
    kept = store.db.query_one("SELECT * FROM merge_conflict WHERE record_id = ?", (world["awa"],))
    assert kept["resolution"] == choice and kept["kind"] == EDITED_BOTH
    assert json.loads(kept["store_values"])["first_name"] == "Awa Aminata"
    assert json.loads(kept["package_values"])["first_name"] == "Awa Fanta"
    if choice == "theirs":
        history = [json.loads(v["old_values"] or "{}").get("first_name")
                   for v in store.db.query("SELECT old_values FROM audit_log WHERE record_id = ? "
                                           "AND action = 'update' ORDER BY id", (world["awa"],))]
        assert "Awa Aminata" in history
        row = live(store, "party", world["awa"])
        assert (row["prov_team"], row["prov_enumerator"]) == ("Equipe A", "moussa")
    merged_for_good(store, world["folder"])


@pytest.mark.parametrize("choice", ["mine", "theirs", "both"])
def test_deleted_in_store_edited_in_package(store, world, choice):
    with field_edit(world["folder"]) as con:
        con.execute("UPDATE spatial_unit SET land_use = 'commercial', updated_by = 'moussa' "
                    "WHERE id = ?", (world["p2"],))
    store.spatial_units.retire(world["p2"])
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, DELETED_IN_STORE)
    apply_merge(store, plan, resolutions={conflict.key: choice})
    row = live(store, "spatial_unit", world["p2"])
    if choice == "mine":
        assert row is None
    else:
        assert row is not None and row["land_use"] == "commercial"
    merged_for_good(store, world["folder"])


@pytest.mark.parametrize("choice", ["mine", "theirs", "both"])
def test_deleted_in_package_edited_in_store(store, world, choice):
    with field_edit(world["folder"]) as con:  # QField deletes the row outright
        con.execute("DELETE FROM spatial_unit WHERE id = ?", (world["p2"],))
    store.spatial_units.update(world["p2"], land_use="mixed")
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, DELETED_IN_PACKAGE)
    assert conflict.package_row is None and conflict.store_row["land_use"] == "mixed"
    apply_merge(store, plan, resolutions={conflict.key: choice})
    row = live(store, "spatial_unit", world["p2"])
    if choice == "theirs":
        assert row is None
        retired = store.db.query_one("SELECT * FROM spatial_unit WHERE id = ?", (world["p2"],))
        assert retired["end_lifespan_version"] is not None  # retired, never deleted
    else:
        assert row["land_use"] == "mixed"
    merged_for_good(store, world["folder"])


@pytest.mark.parametrize("choice", ["mine", "theirs", "both"])
def test_new_parcels_of_two_teams_overlap(store, world, choice):
    # after the cut, another team's parcel (with a half-share claim) reaches the store
    theirs_parcel = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=world["settlement"], land_use="residential", block="B1",
        boundary=box(X0, Y0 + 15, X0 + 20, Y0 + 30)))
    store.tenure.add(SocialTenure(party_id=world["kofi"], spatial_unit_id=theirs_parcel.id,
                                  tenure_type="co_owner", share_numerator=1,
                                  share_denominator=2))
    with field_edit(world["folder"]) as con:
        # the same house drawn by this team, shifted 2 m: 18 x 15 m in common
        mine = add_parcel(con, world["settlement"], (X0 + 2, Y0 + 15, X0 + 22, Y0 + 30),
                          seq=4, code="KOU-P00004")
        claim = add_claim(con, world["awa"], mine, "co_owner", (1, 2))
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, OVERLAPPING_PARCELS)
    assert conflict.other_id == theirs_parcel.id and " by 270." in conflict.detail
    report = apply_merge(store, plan, resolutions={conflict.key: choice})
    on = {r["id"]: r["spatial_unit_id"] for r in store.db.query(
        "SELECT id, spatial_unit_id FROM social_tenure WHERE end_lifespan_version IS NULL")}
    kofi_claim = next(i for i, u in on.items() if i != claim and u in (mine, theirs_parcel.id))
    if choice == "mine":
        assert live(store, "spatial_unit", mine) is None
        assert on[claim] == theirs_parcel.id  # the team's claim follows to the kept parcel
    elif choice == "theirs":
        assert live(store, "spatial_unit", theirs_parcel.id) is None
        assert on[claim] == mine and on[kofi_claim] == mine
    else:
        assert live(store, "spatial_unit", mine) and live(store, "spatial_unit", theirs_parcel.id)
        assert on[claim] == mine and on[kofi_claim] == theirs_parcel.id
    # the team's code was taken by the other parcel in the store: renumbered
    if choice != "mine":
        assert report.renumbered == {"KOU-P00004": "KOU-P00005"}
        assert live(store, "spatial_unit", mine)["code"] == "KOU-P00005"
    merged_for_good(store, world["folder"])


def test_small_overlaps_are_no_conflict(store, world):
    store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=world["settlement"],
                                        boundary=box(X0, Y0 + 15, X0 + 20, Y0 + 30)))
    with field_edit(world["folder"]) as con:  # 0.04 m wider: 0.6 m² in common
        add_parcel(con, world["settlement"], (X0 + 19.96, Y0 + 15, X0 + 40, Y0 + 30), seq=9,
                   code="KOU-P00009")
    assert analyse_merge(store, world["folder"]).conflicts == []
    assert [c.kind for c in analyse_merge(store, world["folder"],
                                          overlap_tolerance_m2=0.5).conflicts] == [
        OVERLAPPING_PARCELS]


@pytest.mark.parametrize("choice", ["mine", "theirs", "both"])
def test_same_id_number_is_a_duplicate_person(store, world, choice):
    office = store.parties.add(Party(first_name="Issa", last_name="Traoré",
                                     id_document_type="national_id",
                                     id_document_number="CI0555666"))
    with field_edit(world["folder"]) as con:
        mine = add_person(con, "Issa", "Traore", id_number="CI0555666")
        claim = add_claim(con, mine, world["p2"], "tenant")
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, DUPLICATE_PERSON)
    assert conflict.other_id == office.id and conflict.detail == "same ID number"
    apply_merge(store, plan, resolutions={conflict.key: choice})
    holder = live(store, "social_tenure", claim)["party_id"]
    assert holder == {"mine": office.id, "theirs": mine, "both": mine}[choice]
    assert (live(store, "party", office.id) is None) == (choice == "theirs")
    assert (live(store, "party", mine) is None) == (choice == "mine")
    merged_for_good(store, world["folder"])


def test_close_name_in_the_same_household_is_a_duplicate_person(store, world):
    store.parties.add(Party(first_name="Fatou", last_name="Koné", group_party_id=world["home"]))
    with field_edit(world["folder"]) as con:
        add_person(con, "Fatou", "Kone", household=world["home"])
        add_person(con, "Mariam", "Koné", household=world["home"])  # a sister: not a duplicate
    plan = analyse_merge(store, world["folder"])
    conflict = only_conflict(plan, DUPLICATE_PERSON)
    assert conflict.package_row["first_name"] == "Fatou"
    assert conflict.detail.startswith("close name in the same household")


def test_policy_resolves_every_conflict_and_ask_refuses(store, world):
    with field_edit(world["folder"]) as con:
        con.execute("UPDATE party SET first_name = 'A', updated_by = 'moussa' WHERE id = ?",
                    (world["awa"],))
        con.execute("UPDATE spatial_unit SET land_use = 'vacant' WHERE id = ?", (world["p2"],))
    store.parties.update(world["awa"], first_name="B")
    store.spatial_units.update(world["p2"], land_use="mixed")
    plan = analyse_merge(store, world["folder"])
    assert len(plan.conflicts) == 2
    before = counts(store)
    with pytest.raises(FieldPackageError) as refused:
        apply_merge(store, plan)  # policy "ask" and no resolutions
    assert refused.value.kind == "unresolved" and "2 conflicts" in str(refused.value)
    with pytest.raises(FieldPackageError) as wrong:
        apply_merge(store, plan, resolutions={plan.conflicts[0].key: "merge"}, policy="theirs")
    assert wrong.value.kind == "conflict_choice"
    assert counts(store) == before
    apply_merge(store, plan, resolutions={plan.conflicts[0].key: "mine"}, policy="theirs")
    kinds = {c.table: r for c, r in zip(plan.conflicts, ["mine", "theirs"])}
    assert live(store, "party", world["awa"])["first_name"] == (
        "B" if kinds["party"] == "mine" else "A")
    assert live(store, "spatial_unit", world["p2"])["land_use"] == (
        "mixed" if kinds["spatial_unit"] == "mine" else "vacant")
