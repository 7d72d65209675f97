"""Check geometry (issue #6, point 1) and its safe repairs, on both backends.

Every kind of finding is planted where we know it, with the record codes
and the place a land officer would be sent to; what the repository refuses
(an invalid geometry) is written with plain SQL, as another tool would.
"""
from __future__ import annotations

import csv

import pytest
import shapely
from certificate_samples import TODAY, FakeRender, approved_parcels_for_test, with_people
from shapely.geometry import Point, Polygon, box

from stdm_plugin.core import (
    ConcurrentEditError,
    RecordNotFoundError,
    Settlement,
    SpatialUnit,
    ValidationError,
)
from stdm_plugin.core.cadastre.geometry_check import STAGES, check_geometry
from stdm_plugin.core.cadastre.geometry_findings import (
    DUPLICATE,
    GAP,
    INVALID,
    OUTSIDE_SETTLEMENT,
    OVERLAP,
    STRUCTURE_OUTSIDE,
    CheckCancelledError,
)
from stdm_plugin.core.cadastre.geometry_fix import (
    GeometryFixRefusedError,
    fix_invalid,
    snap_to_neighbour,
)
from stdm_plugin.core.certificates.certificates import issue_certificate, revoke

X0, Y0 = 400_000.0, 590_000.0
BOW_TIE = Polygon([(X0 + 200, Y0), (X0 + 220, Y0 + 15), (X0 + 220, Y0), (X0 + 200, Y0 + 15)])
# a ring drawn over itself: the band across the square is covered twice
LOOP = Polygon([(X0, Y0), (X0 + 10, Y0), (X0 + 10, Y0 + 10), (X0, Y0 + 10), (X0, Y0 + 2),
                (X0 + 12, Y0 + 2), (X0 + 12, Y0 + 4), (X0 - 2, Y0 + 4), (X0 - 2, Y0 + 0.5)])


@pytest.fixture
def site(store):
    return store.settlements.add(Settlement(code="KOU", name="Koumassi Campement",
                                            boundary=box(X0 - 10, Y0 - 10, X0 + 90, Y0 + 90)))


@pytest.fixture
def grid(store, site):
    """4 x 4 parcels of 20 m, codes KOU-P00001.. column by column, all inside KOU."""
    return store.spatial_units.add_many([
        SpatialUnit(kind="parcel", settlement_id=site.id, land_use="residential",
                    boundary=box(X0 + 20 * i, Y0 + 20 * j, X0 + 20 * i + 20, Y0 + 20 * j + 20))
        for i in range(4) for j in range(4)])


def parcel(store, site, shape):
    return store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=site.id,
                                               land_use="residential", boundary=shape))


def structure(store, site, footprint=None, point=None):
    return store.spatial_units.add(SpatialUnit(kind="structure", settlement_id=site.id,
                                               boundary=footprint, location=point))


def raw_parcel(store, site, record_id, code, shape):
    """What the repository refuses, written as another tool would."""
    with store.transaction():
        store.db.execute(
            "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, boundary) "
            f"VALUES (?, 'parcel', ?, ?, ?, 'residential', "
            f"{store.db.geometry_param(store.srid, True)})",
            (record_id, site.id, int(code[-5:]), code, shape.wkb))


def audited_geometry(store, value):
    """A geometry as the audit log keeps it: SpatiaLite's blob in hex, PostGIS's GeoJSON."""
    if store.db.dialect == "spatialite":
        return shapely.from_wkb(store.db.scalar("SELECT AsBinary(?)", (bytes.fromhex(value),)))
    return shapely.geometry.shape(value)


def codes(report, kind):
    return sorted(f.record_codes for f in report.of_kind(kind))


# --- the check ----------------------------------------------------------------------------
def test_a_clean_grid_has_nothing_to_report(store, site, grid):
    structure(store, site, box(X0 + 5, Y0 + 5, X0 + 12, Y0 + 12))
    structure(store, site, point=Point(X0 + 30, Y0 + 30))
    structure(store, site, box(X0 + 15, Y0 + 25, X0 + 20.1, Y0 + 30))  # 10 cm over the line
    report = check_geometry(store)
    assert report.ok, report.findings
    assert (report.parcels_checked, report.structures_checked) == (16, 3)
    assert report.notes == []
    assert report.summary() == "No geometry problems in the store (16 parcels and 3 " \
                               "structures checked)."


def test_invalid_geometry_is_found_where_geos_says(store, site, grid):
    raw_parcel(store, site, "bowtie", "KOU-P00099", shapely.affinity.translate(BOW_TIE, -140, 60))
    [finding] = check_geometry(store).of_kind(INVALID)
    assert finding.record_codes == ("KOU-P00099",)
    assert finding.record_id == "bowtie"
    assert "Self-intersection at (400070.00, 590067.50)" in finding.message
    assert finding.location.equals(Point(X0 + 70, Y0 + 67.5))
    assert not finding.geometry.is_valid


def test_overlaps_above_the_tolerance_with_their_polygon(store, site, grid):
    store.spatial_units.update(grid[0].id, boundary=box(X0, Y0, X0 + 21, Y0 + 20))  # 20 m²
    store.spatial_units.update(grid[15].id, boundary=box(X0 + 59.99, Y0 + 60, X0 + 80,
                                                         Y0 + 80))  # 0.2 m²
    report = check_geometry(store)
    [overlap] = report.of_kind(OVERLAP)
    assert overlap.record_codes == ("KOU-P00001", "KOU-P00005")
    assert overlap.record_ids == (grid[0].id, grid[4].id)
    assert overlap.geometry.area == pytest.approx(20.0)
    assert overlap.area_m2 == pytest.approx(20.0, rel=0.01)  # measured on the ellipsoid
    assert overlap.geometry.contains(overlap.location)
    assert "overlap by 20.0" in overlap.message
    fine = check_geometry(store, overlap_tolerance_m2=0.1)
    assert codes(fine, OVERLAP) == [("KOU-P00001", "KOU-P00005"), ("KOU-P00012", "KOU-P00016")]


def test_duplicates_exact_and_within_the_tolerance(store, site, grid):
    copy = parcel(store, site, box(X0 + 20, Y0 + 20, X0 + 40, Y0 + 40))
    near = parcel(store, site, box(X0 + 40.005, Y0, X0 + 60.005, Y0 + 20))
    report = check_geometry(store)
    assert codes(report, DUPLICATE) == [("KOU-P00006", copy.code), ("KOU-P00009", near.code)]
    assert report.of_kind(OVERLAP) == []
    assert "probably entered twice" in report.of_kind(DUPLICATE)[0].message


def test_gaps_between_neighbours_inside_the_boundary(store, site, grid):
    store.spatial_units.update(grid[5].id, boundary=box(X0 + 20, Y0 + 20, X0 + 39.5, Y0 + 40))
    for unit in grid[12:]:  # the last column goes: open land joining the margin, 5,210 m²
        store.spatial_units.retire(unit.id)
    report = check_geometry(store)
    [gap] = report.of_kind(GAP)
    assert gap.record_codes == ("KOU-P00005", "KOU-P00006", "KOU-P00007", "KOU-P00010")
    assert gap.area_m2 == pytest.approx(10.0, rel=0.01)
    assert gap.geometry.equals(box(X0 + 39.5, Y0 + 20, X0 + 40, Y0 + 40))
    assert gap.location.within(gap.geometry)
    assert check_geometry(store, gap_tolerance_m2=5).of_kind(GAP) == []
    assert check_geometry(store, gap_tolerance_m2=6000).counts()[GAP] == 2


def test_a_settlement_without_boundary_is_noted(store, grid):
    bare = store.settlements.add(Settlement(code="NOB", name="No boundary"))
    parcel(store, bare, box(X0 + 500, Y0, X0 + 520, Y0 + 20))
    report = check_geometry(store, bare.id)
    assert report.settlement_code == "NOB"
    assert report.parcels_checked == 1
    assert report.notes == ["Settlement NOB has no boundary: its gaps and parcels outside it "
                            "were not looked for."]


def test_parcels_outside_their_settlement(store, site, grid):
    away = parcel(store, site, box(X0 + 200, Y0, X0 + 220, Y0 + 20))
    half = parcel(store, site, box(X0 + 80, Y0 + 60, X0 + 100, Y0 + 80))
    parcel(store, site, box(X0 + 80, Y0, X0 + 90.01, Y0 + 20))  # 0.2 m² out: tolerated
    report = check_geometry(store)
    found = {f.record_codes: f for f in report.of_kind(OUTSIDE_SETTLEMENT)}
    assert sorted(found) == [(away.code, "KOU"), (half.code, "KOU")]
    assert found[(away.code, "KOU")].message == \
        f"Parcel {away.code} lies entirely outside the boundary of settlement KOU."
    part = found[(half.code, "KOU")]
    assert part.area_m2 == pytest.approx(200, rel=0.01)
    assert part.geometry.equals(box(X0 + 90, Y0 + 60, X0 + 100, Y0 + 80))


def test_structures_outside_any_parcel(store, site, grid):
    out = structure(store, site, box(X0 + 82, Y0 + 2, X0 + 86, Y0 + 6))
    gps = structure(store, site, point=Point(X0 + 85, Y0 + 50))
    structure(store, site, point=Point(X0 + 80.2, Y0 + 50))  # 20 cm from a parcel: GPS noise
    over = structure(store, site, box(X0 + 75, Y0 + 25, X0 + 81, Y0 + 30))
    across = structure(store, site, box(X0 + 15, Y0 + 25, X0 + 25, Y0 + 30))
    report = check_geometry(store)
    found = {f.record_codes[0]: f for f in report.of_kind(STRUCTURE_OUTSIDE)}
    assert sorted(found) == sorted([out.code, gps.code, over.code, across.code])
    assert found[out.code].message.startswith(f"Structure {out.code} (16.0")
    assert found[out.code].message.endswith("m² footprint) is outside every parcel.")
    assert found[gps.code].location.equals(Point(X0 + 85, Y0 + 50))
    assert found[over.code].area_m2 == pytest.approx(5.0, rel=0.01)
    assert found[over.code].record_codes == (over.code, "KOU-P00014")
    assert found[across.code].record_codes == (across.code, "KOU-P00002", "KOU-P00006")
    assert "inside none of them alone" in found[across.code].message


def test_one_settlement_or_all_and_an_unknown_one(store, site, grid):
    other = store.settlements.add(Settlement(code="ABO", name="Abobo",
                                             boundary=box(X0 + 1000, Y0, X0 + 1100, Y0 + 100)))
    parcel(store, other, box(X0 + 1000, Y0, X0 + 1020, Y0 + 20))
    parcel(store, other, box(X0 + 1010, Y0, X0 + 1030, Y0 + 20))
    assert check_geometry(store, site.id).ok
    assert check_geometry(store, other.id).counts() == {OVERLAP: 1}
    assert check_geometry(store).counts() == {OVERLAP: 1}
    with pytest.raises(RecordNotFoundError):
        check_geometry(store, "no-such-settlement")


def test_tiles_and_pages_do_not_change_the_findings(store, site, grid):
    """A gap that crosses tile edges is joined again, an overlap reported once."""
    for k in (5, 6):  # two parcels of the second column shrink: a 40 cm sliver, 40 m long
        store.spatial_units.update(grid[k].id, boundary=box(
            X0 + 20, Y0 + 20 * (k - 4), X0 + 39.6, Y0 + 20 * (k - 3)))
    store.spatial_units.update(grid[10].id, boundary=box(X0 + 40, Y0 + 40, X0 + 61, Y0 + 60))
    structure(store, site, box(X0 + 82, Y0 + 2, X0 + 86, Y0 + 6))
    whole = check_geometry(store)
    tiled = check_geometry(store, tile_size=2, page_size=3)
    assert whole.counts() == {OVERLAP: 1, GAP: 1, STRUCTURE_OUTSIDE: 1}
    [gap] = whole.of_kind(GAP)
    assert gap.area_m2 == pytest.approx(16.0, rel=0.01)
    assert gap.record_codes == ("KOU-P00005", "KOU-P00006", "KOU-P00007", "KOU-P00008",
                                "KOU-P00010", "KOU-P00011")
    assert [(f.kind, f.record_codes, f.area_m2) for f in tiled.findings] == \
        [(f.kind, f.record_codes, f.area_m2) for f in whole.findings]


def test_progress_and_cancel(store, site, grid):
    calls = []
    check_geometry(store, progress=lambda *a: calls.append(a), page_size=5, tile_size=4)
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] == calls[0][1]
    assert {c[2] for c in calls} <= set(STAGES)
    assert len(calls) >= 5
    asked = []

    def cancel_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(CheckCancelledError):
        check_geometry(store, is_cancelled=cancel_after_two, page_size=5)
    assert len(asked) == 3


def test_tolerances_are_checked(store, site):
    with pytest.raises(ValidationError, match="overlap_tolerance_m2 must be a number of 0"):
        check_geometry(store, overlap_tolerance_m2=-1)
    with pytest.raises(ValidationError, match="tile_size must be a number of 1 or more"):
        check_geometry(store, tile_size=0)
    with pytest.raises(ValidationError, match="no gap could be reported"):
        check_geometry(store, gap_tolerance_m2=0.00001)


def test_findings_as_wkb_and_csv(store, site, grid, tmp_path):
    parcel(store, site, box(X0 + 200, Y0, X0 + 220, Y0 + 20))
    report = check_geometry(store)
    [finding] = report.findings
    assert shapely.from_wkb(finding.location_wkb).equals(finding.location)
    assert shapely.from_wkb(finding.geometry_wkb).equals(finding.geometry)
    rows = list(csv.DictReader(open(report.write_csv(tmp_path / "g.csv"), encoding="utf-8")))
    assert rows[0]["kind"] == OUTSIDE_SETTLEMENT and rows[0]["record_codes"] == \
        "KOU-P00017;KOU"
    assert rows[0]["geometry_wkt"].startswith("POLYGON")


# --- repairs ------------------------------------------------------------------------------
def test_fix_invalid_repairs_a_bow_tie_and_keeps_the_old_one(store, site):
    raw_parcel(store, site, "bowtie", "KOU-P00099", BOW_TIE)
    fix = fix_invalid(store, "bowtie")
    assert fix.changed and fix.new_geometry.is_valid
    assert fix.new_geometry.geom_type == "MultiPolygon"
    assert fix.area_after_m2 == pytest.approx(fix.area_before_m2) == pytest.approx(150, rel=0.01)
    saved = store.spatial_units.get("bowtie")
    assert saved.boundary.equals(fix.new_geometry) and saved.row_version == fix.row_version
    assert saved.location.within(saved.boundary)
    versions = store.history("spatial_unit", "bowtie")
    assert len(versions) == 2
    assert audited_geometry(store, versions[0]["values"]["boundary"]).equals_exact(
        shapely.multipolygons([BOW_TIE]), 1e-6)
    assert audited_geometry(store, versions[1]["values"]["boundary"]).equals(fix.new_geometry)
    assert check_geometry(store).of_kind(INVALID) == []
    again = fix_invalid(store, "bowtie")
    assert not again.changed and "already valid" in again.message


def test_fix_invalid_refuses_to_lose_land(store, site):
    raw_parcel(store, site, "loop", "KOU-P00098", LOOP)
    with pytest.raises(GeometryFixRefusedError, match=r"would lose 17\.9% of the area"):
        fix_invalid(store, "loop")
    assert not store.spatial_units.get("loop").boundary.is_valid
    assert len(store.history("spatial_unit", "loop")) == 1
    assert fix_invalid(store, "loop", max_area_loss=0.2).changed


def test_fixes_respect_the_row_version(store, site, grid):
    raw_parcel(store, site, "bowtie", "KOU-P00099", BOW_TIE)
    stale = store.spatial_units.get("bowtie").row_version
    with store.transaction():  # someone edits it with QGIS's own tools meanwhile
        store.db.execute("UPDATE spatial_unit SET remarks = 'seen' WHERE id = 'bowtie'")
    with pytest.raises(ConcurrentEditError):
        fix_invalid(store, "bowtie", expected_version=stale)
    with pytest.raises(ConcurrentEditError):
        snap_to_neighbour(store, grid[0].id, 0.5, expected_version=grid[0].row_version + 5)


def test_snap_to_neighbour_closes_a_gap_and_an_overlap(store, site, grid):
    moved = Polygon([(X0 + 20.3, Y0 + 20), (X0 + 40, Y0 + 20), (X0 + 40, Y0 + 40),
                     (X0 + 19.8, Y0 + 40.2)])
    store.spatial_units.update(grid[5].id, boundary=moved)
    assert check_geometry(store, overlap_tolerance_m2=0.01,
                          gap_tolerance_m2=50).counts() == {OVERLAP: 3, GAP: 1}
    fix = snap_to_neighbour(store, grid[5].id, 0.5)
    assert fix.changed and "snapped to" in fix.message
    assert fix.new_geometry.normalize().equals_exact(
        shapely.multipolygons([box(X0 + 20, Y0 + 20, X0 + 40, Y0 + 40)]).normalize(), 1e-6)
    assert check_geometry(store, overlap_tolerance_m2=0.01, gap_tolerance_m2=50).ok
    assert len(store.history("spatial_unit", grid[5].id)) == 3
    assert not snap_to_neighbour(store, grid[5].id, 0.5).changed


def test_snap_refuses_a_big_change_and_a_silly_tolerance(store, site, grid):
    thin = parcel(store, site, box(X0 + 80.4, Y0, X0 + 81.4, Y0 + 20))  # 40 cm from KOU-P00013
    with pytest.raises(GeometryFixRefusedError, match="change the area by 40.0%"):
        snap_to_neighbour(store, thin.id, 0.5)
    assert store.spatial_units.get(thin.id).row_version == 1
    with pytest.raises(ValidationError, match="at most 5 m"):
        snap_to_neighbour(store, thin.id, 50)


def test_a_certified_parcel_keeps_its_geometry(store, tmp_path):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)
    neighbour = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=unit.settlement_id,
        boundary=box(400020.3, 590000, 400040, 590015)))
    issued = issue_certificate(store, unit.id, FakeRender(), str(tmp_path), today=TODAY)
    refusal = f"valid certificate \\({issued.number}\\).*revoke or supersede"
    with pytest.raises(GeometryFixRefusedError, match=refusal):
        fix_invalid(store, unit.id)
    with pytest.raises(GeometryFixRefusedError, match=refusal):
        snap_to_neighbour(store, unit.id, 0.5)
    assert snap_to_neighbour(store, neighbour.id, 0.5).changed  # its neighbour is not frozen
    assert store.spatial_units.get(unit.id).row_version == unit.row_version
    revoke(store, issued.number, "boundary resurveyed")
    assert not fix_invalid(store, unit.id).changed  # allowed now: nothing to repair


def test_claims_in_adjudication_do_not_lock_the_parcel(store):
    with_people(store)
    [unit] = approved_parcels_for_test(store, 1)  # approved claims, no certificate
    store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=unit.settlement_id,
                                        boundary=box(400020.3, 590000, 400040, 590015)))
    assert snap_to_neighbour(store, unit.id, 0.5).changed
