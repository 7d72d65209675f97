"""Parcel split and merge keeping lineage (issue #6, point 4), on both backends: the
pieces and the merged parcel, lineage both ways, tenure following only when confirmed,
every refusal with nothing written, structures re-linked, codes, history, the
append-only register and the upgrade of a schema-5 store."""
from __future__ import annotations

from fractions import Fraction

import pytest
from certificate_samples import FakeRender, approved_parcels_for_test, with_people
from shapely.geometry import LineString, box

from stdm_plugin.core import (
    Party,
    RecordNotFoundError,
    Settlement,
    SettlementStore,
    SocialTenure,
    SpatialUnit,
    ValidationError,
)
from stdm_plugin.core.adjudication.adjudication import return_to_enumeration, verify
from stdm_plugin.core.cadastre import parcel_lineage as pl
from stdm_plugin.core.certificates.certificates import issue_certificate, revoke
from stdm_plugin.core.safety.consistency import check_store
from stdm_plugin.core.store.errors import PermissionDeniedError
from stdm_plugin.core.store.migrations import SCHEMA_VERSION
from stdm_plugin.core.store.publish import copy_store
from stdm_plugin.core.store.users import sign_in, sign_out

X, Y = 400000, 590000
TABLES = ("spatial_unit", "social_tenure", "spatial_unit_lineage", "audit_log",
          "adjudication_event")


def lot(store, site, x0, x1, *, y0=0, y1=15, block="B1"):
    """A rectangular parcel from x0 to x1 metres east of the origin."""
    return store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, land_use="residential", block=block,
        address="Rue 12", boundary=box(X + x0, Y + y0, X + x1, Y + y1)))


def holders(store, unit, *claims):
    """Claims (first name, tenure type, numerator, denominator) on ``unit``."""
    made = []
    for first, tenure, n, d in claims:
        party = _party(store, first)
        made.append(store.tenure.add(SocialTenure(
            party_id=party.id, spatial_unit_id=unit.id, tenure_type=tenure,
            share_numerator=n, share_denominator=d, start_date="2015-03-01",
            evidence="neighbours")))
    return made


def _party(store, first):
    found = store.parties.find("first_name = ?", (first,))
    return found[0] if found else store.parties.add(Party(first_name=first, last_name="Koné"))


def cut(x, *more):
    """A north-south cut at x (metres east of the origin), zigzagging through ``more``."""
    points = [(X + x, Y - 5), (X + x, Y + 20)]
    for i, other in enumerate(more):
        ys = (Y + 20, Y - 5) if i % 2 == 0 else (Y - 5, Y + 20)
        points += [(X + other, ys[0]), (X + other, ys[1])]
    return LineString(points)


def counts(store):
    return {t: store.db.scalar(f"SELECT count(*) FROM {t}") for t in TABLES}


def claims_on(store, unit_id):
    return sorted((store.parties.get(c.party_id).first_name, c.tenure_type, c.share)
                  for c in store.tenure.on_spatial_unit(unit_id))


def parcel_seqs(store):
    return [r["seq"] for r in store.db.query(
        "SELECT seq FROM spatial_unit WHERE kind = 'parcel' ORDER BY seq")]


@pytest.fixture
def site(settlement):
    return settlement


# --- split and merge --------------------------------------------------------------------------
def test_split_in_two(store, site):
    parent = lot(store, site, 0, 30)
    lot(store, site, 30, 40)  # a neighbour: the pieces' codes come after it
    plan = pl.plan_split(store, parent.id, cut(10))
    assert [round(p.area) for p in plan.pieces] == [150, 300]
    assert plan.claims == () and plan.parcel_code == "KOU-P00001"
    result = pl.apply_split(store, plan)  # nothing to confirm: no claims
    assert [c.code for c in result.children] == ["KOU-P00003", "KOU-P00004"]
    assert sum(c.area_m2 for c in result.children) == pytest.approx(parent.area_m2, abs=0.05)
    for child in result.children:
        again = store.spatial_units.get(child.id)
        assert (again.settlement_id, again.land_use, again.block, again.address) == (
            site.id, "residential", "B1", "Rue 12")
        assert again.boundary.is_valid and again.remarks == "split from KOU-P00001"
    with pytest.raises(RecordNotFoundError):
        store.spatial_units.get(parent.id)
    retired = store.spatial_units.get(parent.id, include_retired=True)
    assert retired.end_lifespan_version is not None
    assert retired.boundary.equals(parent.boundary)  # kept as it was
    assert counts(store)["spatial_unit_lineage"] == 2
    assert check_store(store).ok


def test_split_in_three_along_a_zigzag(store, site):
    parent = lot(store, site, 0, 30)
    plan = pl.plan_split(store, parent.id, cut(10, 20))
    assert [round(p.area) for p in plan.pieces] == [150, 150, 150]
    assert plan.piece_areas_m2 == pytest.approx((150, 150, 150), rel=2e-3)
    result = pl.apply_split(store, plan, note="road widening")
    assert [c.code for c in result.children] == ["KOU-P00002", "KOU-P00003", "KOU-P00004"]
    assert [c.boundary.centroid.x - X for c in result.children] == pytest.approx(
        [5, 15, 25])  # west to east
    links = pl.lineage_of(store, parent.id).descendants
    assert [(link.child_code, link.operation, link.note, link.happened_by) for link in links] == [
        ("KOU-P00002", "split", "road widening", "tester"),
        ("KOU-P00003", "split", "road widening", "tester"),
        ("KOU-P00004", "split", "road widening", "tester")]


@pytest.mark.parametrize("count", [2, 3])
def test_merge(store, site, count):
    parents = [lot(store, site, 10 * i, 10 * i + 10, block=f"B{i}") for i in range(count)]
    plan = pl.plan_merge(store, [p.id for p in parents])
    assert plan.merged.geom_type == "Polygon"
    assert plan.merged.area == pytest.approx(150 * count)
    result = pl.apply_merge(store, plan)
    [merged] = result.children
    assert merged.code == f"KOU-P{count + 1:05d}"
    assert merged.block == "B0"  # the first parcel named gives its attributes
    assert merged.area_m2 == pytest.approx(sum(p.area_m2 for p in parents), abs=0.05)
    assert merged.remarks == "merged from " + ", ".join(p.code for p in parents)
    assert store.spatial_units.count() == 1
    ancestors = pl.lineage_of(store, merged.id).ancestors
    assert sorted((a.parent_code, a.operation, a.generation) for a in ancestors) == [
        (p.code, "merge", 1) for p in parents]
    assert check_store(store).ok


def test_overlapping_parcels_merge(store, site):
    a, b = lot(store, site, 0, 12), lot(store, site, 10, 20)
    plan = pl.plan_merge(store, [a.id, b.id])
    assert plan.merged.area == pytest.approx(300)


def test_lineage_both_ways_over_a_split_then_a_merge(store, site):
    p1, p2 = lot(store, site, 0, 20), lot(store, site, 20, 30)
    west, east = pl.apply_split(store, pl.plan_split(store, p1.id, cut(10))).children
    [merged] = pl.apply_merge(store, pl.plan_merge(store, [east.id, p2.id])).children
    assert [merged.code, west.code, east.code] == ["KOU-P00005", "KOU-P00003", "KOU-P00004"]

    def view(links):
        return sorted((x.parent_code, x.child_code, x.operation, x.generation) for x in links)

    up = pl.lineage_of(store, merged.id)
    assert view(up.ancestors) == [("KOU-P00001", "KOU-P00004", "split", 2),
                                  ("KOU-P00002", "KOU-P00005", "merge", 1),
                                  ("KOU-P00004", "KOU-P00005", "merge", 1)]
    assert up.descendants == []
    down = pl.lineage_of(store, p1.id)
    assert down.ancestors == []
    assert view(down.descendants) == [("KOU-P00001", "KOU-P00003", "split", 1),
                                      ("KOU-P00001", "KOU-P00004", "split", 1),
                                      ("KOU-P00004", "KOU-P00005", "merge", 2)]
    middle = pl.lineage_of(store, east.id)
    assert view(middle.ancestors) == [("KOU-P00001", "KOU-P00004", "split", 1)]
    assert view(middle.descendants) == [("KOU-P00004", "KOU-P00005", "merge", 1)]
    # a sibling is neither an ancestor nor a descendant
    assert view(pl.lineage_of(store, p2.id).descendants) == [
        ("KOU-P00002", "KOU-P00005", "merge", 1)]
    assert pl.lineage_of(store, west.id).descendants == []


# --- tenure -----------------------------------------------------------------------------------
def test_claims_follow_a_split_when_confirmed(store, site):
    parent = lot(store, site, 0, 30)
    awa, issa = holders(store, parent, ("Awa", "co_owner", 1, 2), ("Issa", "co_owner", 1, 2))
    plan = pl.plan_split(store, parent.id, cut(10, 20))
    assert sorted(c.claim_id for c in plan.claims) == sorted([awa.id, issa.id])
    result = pl.apply_split(store, plan, tenure="copy", confirmed=True)
    assert sorted(result.ended_claims) == sorted([awa.id, issa.id])
    assert len(result.new_claims) == 6
    for child in result.children:
        assert claims_on(store, child.id) == [("Awa", "co_owner", Fraction(1, 2)),
                                              ("Issa", "co_owner", Fraction(1, 2))]
        for claim in store.tenure.on_spatial_unit(child.id):
            assert (claim.start_date, claim.evidence, claim.adjudication_state) == (
                "2015-03-01", "neighbours", "enumerated")
    assert {c.party_id for c in result.new_claims} == {awa.party_id, issa.party_id}
    for old in (awa, issa):  # the old claims are kept, retired, with their history
        kept = store.tenure.get(old.id, include_retired=True)
        assert kept.end_lifespan_version is not None and kept.spatial_unit_id == parent.id
        assert store.history("social_tenure", old.id)[-1]["values"]["end_lifespan_version"]
    assert store.tenure.on_spatial_unit(parent.id) == []
    assert check_store(store).ok


def test_claims_are_carried_onto_a_merged_parcel(store, site):
    a, b, c = lot(store, site, 0, 10), lot(store, site, 10, 20), lot(store, site, 20, 30)
    holders(store, a, ("Awa", "co_owner", 1, 3))
    holders(store, b, ("Issa", "co_owner", 1, 3))
    holders(store, c, ("Moussa", "co_owner", 1, 3))
    plan = pl.plan_merge(store, [a.id, b.id, c.id])
    assert plan.share_problems == () and len(plan.carried) == 3
    result = pl.apply_merge(store, plan, tenure="carry", confirmed=True)
    [merged] = result.children
    assert claims_on(store, merged.id) == [("Awa", "co_owner", Fraction(1, 3)),
                                           ("Issa", "co_owner", Fraction(1, 3)),
                                           ("Moussa", "co_owner", Fraction(1, 3))]
    assert store.tenure.share_total(merged.id) == 1


def test_a_claim_held_alike_on_every_parent_is_carried_once(store, site):
    a, b = lot(store, site, 0, 10), lot(store, site, 10, 20)
    holders(store, a, ("Awa", "owner", 1, 2), ("Issa", "owner", 1, 2))
    holders(store, b, ("Awa", "owner", 1, 2), ("Issa", "owner", 1, 2))
    plan = pl.plan_merge(store, [a.id, b.id])
    assert len(plan.claims) == 4 and len(plan.carried) == 2 and plan.share_problems == ()
    result = pl.apply_merge(store, plan, confirmed=True)
    assert claims_on(store, result.children[0].id) == [("Awa", "owner", Fraction(1, 2)),
                                                       ("Issa", "owner", Fraction(1, 2))]
    assert len(result.ended_claims) == 4


def test_without_confirmation_nothing_moves(store, site):
    parent, other = lot(store, site, 0, 20), lot(store, site, 20, 30)
    holders(store, parent, ("Awa", "co_owner", 1, 2), ("Issa", "co_owner", 1, 2))
    before = counts(store)
    split = pl.plan_split(store, parent.id, cut(10))
    with pytest.raises(pl.LineageRefusedError) as info:
        pl.apply_split(store, split)
    assert info.value.kinds == [pl.NOT_CONFIRMED]
    message = str(info.value)
    assert "Awa Koné (co_owner, share 1/2) on KOU-P00001" in message
    assert "Issa Koné (co_owner, share 1/2)" in message and "each of the 2 new parcels" in message
    with pytest.raises(pl.LineageRefusedError, match="ends these claims"):
        pl.apply_split(store, split, tenure="none")
    merge = pl.plan_merge(store, [parent.id, other.id])
    with pytest.raises(pl.LineageRefusedError, match="onto the merged parcel: ") as info:
        pl.apply_merge(store, merge)
    assert "Awa Koné" in str(info.value) and "Issa Koné" in str(info.value)
    assert counts(store) == before


def test_tenure_none_ends_the_claims_with_the_parent(store, site):
    parent = lot(store, site, 0, 20)
    [awa] = holders(store, parent, ("Awa", "owner", 1, 1))
    result = pl.apply_split(store, pl.plan_split(store, parent.id, cut(10)), tenure="none",
                            confirmed=True)
    assert result.new_claims == [] and result.ended_claims == [awa.id]
    assert all(store.tenure.on_spatial_unit(c.id) == [] for c in result.children)
    assert store.tenure.get(awa.id, include_retired=True).end_lifespan_version
    with pytest.raises(ValidationError, match="tenure must be copy or none"):
        pl.apply_split(store, pl.plan_split(store, result.children[0].id, cut(5)),
                       tenure="carry")


# --- refusals, nothing written ----------------------------------------------------------------
def refused(store, kind, call, *args, **kwargs):
    before = counts(store)
    with pytest.raises(pl.LineageRefusedError) as info:
        call(store, *args, **kwargs)
    assert kind in info.value.kinds, info.value.kinds
    assert counts(store) == before
    return str(info.value)


def test_shares_over_one_after_a_merge_are_refused_naming_the_parties(store, site):
    a, b = lot(store, site, 0, 10), lot(store, site, 10, 20)
    holders(store, a, ("Awa", "owner", 1, 1))
    holders(store, b, ("Issa", "owner", 2, 3), ("Awa", "tenant", 1, 3))
    plan = pl.plan_merge(store, [a.id, b.id])
    assert plan.share_problems
    message = refused(store, pl.SHARES, pl.apply_merge, plan, confirmed=True)
    assert "add up to 2" in message and "Awa Koné would hold 4/3" in message
    assert "Issa Koné (owner, share 2/3) on KOU-P00002" in message
    assert "Adjust the shares" in message
    # not carrying the claims is still possible
    result = pl.apply_merge(store, plan, tenure="none", confirmed=True)
    assert store.tenure.on_spatial_unit(result.children[0].id) == []


def test_claims_in_adjudication_are_locked(store, site):
    store.users.create("admin", "Adèle Admin", "administrator", "pass-admin")
    sign_in(store, "admin", "pass-admin")
    store.users.create("sup", "Seydou Superviseur", "supervisor", "pass-sup")
    parent = lot(store, site, 0, 20)
    awa, issa = holders(store, parent, ("Awa", "co_owner", 1, 2), ("Issa", "co_owner", 1, 2))
    plan = pl.plan_split(store, parent.id, cut(10))  # planned before the claim moved on
    sign_in(store, "sup", "pass-sup")
    verify(store, [awa.id])
    message = refused(store, pl.CLAIMS_LOCKED, pl.plan_split, parent.id, cut(10))
    assert "Awa Koné (co_owner, share 1/2) on KOU-P00001, verified" in message
    assert "Issa" not in message and "Return them to enumeration" in message
    refused(store, pl.CLAIMS_LOCKED, pl.apply_split, plan, confirmed=True)
    return_to_enumeration(store, [awa.id], "the plot is being divided")
    # back as it was when planned (same party, type and share): the plan holds again
    assert len(pl.apply_split(store, plan, confirmed=True).children) == 2


def test_a_valid_certificate_freezes_the_parcel(store, tmp_path):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), str(tmp_path / "out"),
                               today="2026-03-01")
    message = refused(store, pl.CERTIFIED, pl.plan_split, unit.id, cut(10))
    assert issued.number in message and "revoke or supersede it first" in message
    revoke(store, issued.number, "the parcel is being divided")
    with pytest.raises(pl.LineageRefusedError) as info:
        pl.plan_split(store, unit.id, cut(10))
    assert info.value.kinds == [pl.CLAIMS_LOCKED] and "issued" in str(info.value)
    return_to_enumeration(store, [c.id for c in store.tenure.on_spatial_unit(unit.id)],
                          "the parcel is being divided")
    plan = pl.plan_split(store, unit.id, cut(10))
    result = pl.apply_split(store, plan, confirmed=True)
    assert [store.tenure.get(c.id).adjudication_state for c in result.new_claims] == [
        "enumerated", "enumerated"]


def test_a_retired_parcel_cannot_be_split_or_merged_again(store, site):
    parent, other = lot(store, site, 0, 20), lot(store, site, 20, 30)
    plan = pl.plan_split(store, parent.id, cut(10))
    pl.apply_split(store, plan)
    message = refused(store, pl.RETIRED, pl.apply_split, plan)  # the same plan twice
    assert "KOU-P00001 was retired on" in message
    refused(store, pl.RETIRED, pl.plan_merge, [parent.id, other.id])


@pytest.mark.parametrize("line", [
    LineString([(X + 10, Y - 5), (X + 10, Y + 7)]),  # stops inside the parcel
    LineString([(X - 5, Y - 5), (X - 5, Y + 20)]),  # beside it
    LineString([(X, Y), (X, Y + 15)]),  # along its edge
    LineString(),
    box(X, Y, X + 10, Y + 10),
])
def test_a_line_that_does_not_cut_in_two_is_refused(store, site, line):
    parent = lot(store, site, 0, 20)
    refused(store, pl.NO_SPLIT, pl.plan_split, parent.id, line)


def test_slivers_are_refused(store, site):
    parent = lot(store, site, 0, 20)
    message = refused(store, pl.SLIVER, pl.plan_split, parent.id, cut(0.05))
    assert "0.75 m²" in message and "minimum of 1 m²" in message
    refused(store, pl.SLIVER, pl.plan_split, parent.id, cut(4), min_area_m2=100)
    assert len(pl.plan_split(store, parent.id, cut(0.2)).pieces) == 2  # 3 m² is a parcel


def test_parcels_of_different_settlements_are_not_merged(store, site):
    other_site = store.settlements.add(Settlement(code="ABO", name="Abobo"))
    a, b = lot(store, site, 0, 10), lot(store, other_site, 10, 20)
    message = refused(store, pl.SETTLEMENTS, pl.plan_merge, [a.id, b.id])
    assert "KOU-P00001, ABO-P00001" in message


@pytest.mark.parametrize("second", [(30, 40, 0, 15), (10, 20, 15, 30)])  # apart; a corner
def test_parcels_that_do_not_make_one_polygon_are_not_merged(store, site, second):
    a = lot(store, site, 0, 10)
    x0, x1, y0, y1 = second
    b = lot(store, site, x0, x1, y0=y0, y1=y1)
    refused(store, pl.NOT_ONE_POLYGON, pl.plan_merge, [a.id, b.id])


def test_one_parcel_or_a_structure_is_not_a_merge(store, site):
    a = lot(store, site, 0, 10)
    refused(store, pl.TOO_FEW, pl.plan_merge, [a.id, a.id])
    shed = store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=site.id, parcel_id=a.id,
        boundary=box(X + 1, Y + 1, X + 4, Y + 4)))
    refused(store, pl.NOT_A_PARCEL, pl.plan_split, shed.id, cut(2))


def test_a_change_since_the_plan_is_refused(store, site):
    parent = lot(store, site, 0, 20)
    plan = pl.plan_split(store, parent.id, cut(10))
    holders(store, parent, ("Awa", "owner", 1, 1))
    refused(store, pl.CHANGED, pl.apply_split, plan, confirmed=True)
    plan = pl.plan_split(store, parent.id, cut(10))
    store.spatial_units.update(parent.id, land_use="commercial")
    refused(store, pl.CHANGED, pl.apply_split, plan, confirmed=True)


def test_splitting_needs_a_role_once_the_store_has_users(store, site):
    parent = lot(store, site, 0, 20)
    plan = pl.plan_split(store, parent.id, cut(10))
    store.users.create("admin", "Adèle Admin", "administrator", "pass-admin")
    sign_in(store, "admin", "pass-admin")
    store.users.create("enum", "Eric Enumerator", "enumerator", "pass-enum")
    sign_out(store)
    before = counts(store)
    with pytest.raises(PermissionDeniedError):
        pl.apply_split(store, plan)
    assert counts(store) == before
    sign_in(store, "enum", "pass-enum")
    assert pl.apply_split(store, plan).children[0].created_by == "enum"


def test_a_failure_half_way_writes_nothing(store, site, monkeypatch):
    parent = lot(store, site, 0, 20)
    holders(store, parent, ("Awa", "owner", 1, 1))
    plan = pl.plan_split(store, parent.id, cut(10))
    before = counts(store)

    def broken(record_id):
        raise RuntimeError("power cut")

    monkeypatch.setattr(store.spatial_units, "retire", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        pl.apply_split(store, plan, confirmed=True)
    assert counts(store) == before
    assert store.spatial_units.get(parent.id).end_lifespan_version is None


# --- structures, codes, history ---------------------------------------------------------------
def test_structures_follow_their_parcel(store, site):
    parent, other = lot(store, site, 0, 20), lot(store, site, 20, 30)
    house = store.spatial_units.add(SpatialUnit(  # mostly east of the cut at x=10
        kind="structure", settlement_id=site.id, parcel_id=parent.id,
        boundary=box(X + 8, Y + 2, X + 16, Y + 8)))
    kiosk = store.spatial_units.add(SpatialUnit(  # a GPS point only, west of the cut
        kind="structure", settlement_id=site.id, parcel_id=parent.id,
        location=box(X + 3, Y + 3, X + 4, Y + 4).centroid))
    shop = store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=site.id, parcel_id=other.id,
        boundary=box(X + 22, Y + 2, X + 26, Y + 6)))
    west, east = pl.apply_split(store, pl.plan_split(store, parent.id, cut(10))).children
    assert store.spatial_units.get(house.id).parcel_id == east.id
    assert store.spatial_units.get(kiosk.id).parcel_id == west.id
    assert store.spatial_units.get(shop.id).parcel_id == other.id
    result = pl.apply_merge(store, pl.plan_merge(store, [east.id, other.id]))
    [merged] = result.children
    assert result.relinked_structures == {house.id: merged.id, shop.id: merged.id}
    assert {s.id for s in store.spatial_units.find("parcel_id = ?", (merged.id,))} == {
        house.id, shop.id}
    assert sorted(s.code for s in store.spatial_units.structures()) == [
        "KOU-S00001", "KOU-S00002", "KOU-S00003"]  # structures keep their codes
    assert check_store(store).ok


def test_codes_are_new_and_gap_free(store, site):
    a, b = lot(store, site, 0, 30), lot(store, site, 30, 40)
    pieces = pl.apply_split(store, pl.plan_split(store, a.id, cut(10, 20))).children
    pl.apply_merge(store, pl.plan_merge(store, [pieces[2].id, b.id]))
    newest = lot(store, site, 50, 60)
    assert parcel_seqs(store) == [1, 2, 3, 4, 5, 6, 7]
    assert newest.code == "KOU-P00007"
    assert sorted(p.code for p in store.spatial_units.parcels()) == [
        "KOU-P00003", "KOU-P00004", "KOU-P00006", "KOU-P00007"]


def test_the_history_of_the_parent_shows_its_retirement(store, site):
    parent = lot(store, site, 0, 20)
    pl.apply_split(store, pl.plan_split(store, parent.id, cut(10)))
    versions = store.history("spatial_unit", parent.id)
    assert [v["action"] for v in versions] == ["insert", "update"]
    assert versions[0]["values"]["end_lifespan_version"] is None
    assert versions[-1]["values"]["end_lifespan_version"] is not None
    assert versions[-1]["changed_by"] == "tester"


def test_the_lineage_register_is_append_only(store, site, outside):
    parent = lot(store, site, 0, 20)
    pl.apply_split(store, pl.plan_split(store, parent.id, cut(10)))
    for sql in ("UPDATE spatial_unit_lineage SET operation = 'merge'",
                "UPDATE spatial_unit_lineage SET note = 'rewritten'",
                "DELETE FROM spatial_unit_lineage"):
        with pytest.raises(Exception, match="register_append_only") as info:
            outside.execute(sql)
        assert isinstance(outside.translate_error(info.value), ValidationError)
    assert [x.operation for x in pl.lineage_of(store, parent.id).descendants] == ["split"] * 2


def test_a_copy_of_the_store_keeps_the_lineage(store, site, new_store):
    p1, p2 = lot(store, site, 0, 20), lot(store, site, 20, 30)
    east = pl.apply_split(store, pl.plan_split(store, p1.id, cut(10))).children[1]
    [merged] = pl.apply_merge(store, pl.plan_merge(store, [east.id, p2.id])).children
    target = new_store()
    assert copy_store(store, target)["spatial_unit_lineage"] == 4
    assert pl.lineage_of(target, merged.id) == pl.lineage_of(store, merged.id)


# --- upgrade ----------------------------------------------------------------------------------
@pytest.fixture
def v5_store(backend_name, tmp_path, request):
    """A store as the version-5 plugin made it, with a parcel; returns an opener."""
    if backend_name == "spatialite":
        path = tmp_path / "v5.sqlite"
        SettlementStore.create(path, 32630, target_version=5).close()
        opener = lambda: SettlementStore.open(path, actor="upgrader")  # noqa: E731
        old = SettlementStore.open(path, upgrade=False)
    else:
        server = request.getfixturevalue("postgis_server")
        connection = {"host": server.host, "port": server.port, "user": server.user,
                      "dbname": server.dbname}
        schema = server.fresh_schema()
        SettlementStore.create_postgis(connection, schema, 32630, target_version=5).close()
        opener = lambda: SettlementStore.open_postgis(connection, schema,  # noqa: E731
                                                      actor="upgrader")
        old = SettlementStore.open_postgis(connection, schema, upgrade=False)
    with old:
        assert old.schema_version == 5 and not old.db.table_exists("spatial_unit_lineage")
        site = old.settlements.add(Settlement(code="KOU", name="Koumassi"))
        lot(old, site, 0, 20)
    return opener


def test_a_v5_store_upgrades_to_v6(v5_store, backend_name, tmp_path):
    with v5_store() as store:
        assert store.schema_version == SCHEMA_VERSION >= 6
        assert store.db.table_exists("spatial_unit_lineage")
        applied = [r["version"] for r in store.db.query(
            "SELECT version FROM stdm_schema_history ORDER BY version")]
        assert applied == list(range(1, SCHEMA_VERSION + 1))
        parent = store.spatial_units.by_code("KOU-P00001")
        result = pl.apply_split(store, pl.plan_split(store, parent.id, cut(10)))
        assert [c.code for c in result.children] == ["KOU-P00002", "KOU-P00003"]
        with pytest.raises(ValidationError, match="append-only"):
            with store.transaction():
                store.db.execute("DELETE FROM spatial_unit_lineage")
    if backend_name == "spatialite":
        assert (tmp_path / "v5.sqlite.schema-v5.bak").exists()
