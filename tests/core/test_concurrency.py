"""Eight users at once on one store: no duplicate or missing numbers, no lost update,
and shares still never above 1. Runs on both backends."""
import multiprocessing
from fractions import Fraction

from shapely.geometry import box

from stdm_plugin.core import Settlement, SpatialUnit

WORKERS = 8
NEW_PARCELS = 6
INCREMENTS = 5


def location_of(store):
    if store.db.dialect == "spatialite":
        return ("spatialite", store.path)
    return ("postgis", store.db.connection_params, store.db.schema)


def test_eight_users_at_once(store):
    from concurrent_worker import work

    site = store.settlements.add(Settlement(code="ABO", name="Abobo"))
    contested = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(-100, -100, -80, -80),
        remarks="0"))
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(work, [(location_of(store), w, site.id, contested.id,
                                       NEW_PARCELS, INCREMENTS) for w in range(WORKERS)])
    codes = [code for r in results for code in r["codes"]]
    expected = [f"ABO-P{n:05d}" for n in range(2, 2 + WORKERS * NEW_PARCELS)]
    assert sorted(codes) == expected  # unique and gap-free
    final = store.spatial_units.get(contested.id)
    assert final.remarks == str(WORKERS * INCREMENTS)  # no lost update
    assert final.row_version == 1 + WORKERS * INCREMENTS
    assert sum(r["claimed"] for r in results) == 4
    assert store.tenure.share_total(contested.id) == Fraction(1)
