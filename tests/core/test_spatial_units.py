import pytest
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.ops import transform

from stdm_plugin.core import (
    InvalidGeometryError,
    MissingReferenceError,
    Settlement,
    SpatialUnit,
    ValidationError,
)


def test_codes_follow_the_settlement_prefix_per_kind(store, settlement):
    units = store.spatial_units.add_many(
        [SpatialUnit(kind="parcel", settlement_id=settlement.id,
                     boundary=box(i * 20, 0, i * 20 + 15, 15)) for i in range(3)])
    structure = store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=settlement.id, parcel_id=units[0].id,
        location=Point(5, 5)))
    more = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                               boundary=box(100, 0, 110, 10)))
    assert [u.code for u in units] == ["KOU-P00001", "KOU-P00002", "KOU-P00003"]
    assert structure.code == "KOU-S00001"
    assert more.code == "KOU-P00004"
    assert store.spatial_units.by_code("KOU-S00001").parcel_id == units[0].id


def test_parcels_are_stored_as_multipolygons_with_a_location(store, settlement):
    unit = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                               boundary=box(0, 0, 10, 10)))
    stored = store.spatial_units.get(unit.id)
    assert isinstance(stored.boundary, MultiPolygon)
    assert stored.location.within(stored.boundary)


def test_area_is_in_square_metres_whatever_the_storage_crs(new_store):
    """The same 20 m x 15 m plot in Abidjan, stored in UTM 30N and in WGS 84."""
    from pyproj import Transformer

    utm_plot = box(400000, 590000, 400020, 590015)
    to_wgs84 = Transformer.from_crs(32630, 4326, always_xy=True).transform
    areas = {}
    for srid, geometry in ((32630, utm_plot), (4326, transform(to_wgs84, utm_plot))):
        with new_store(crs=srid) as store:
            site = store.settlements.add(Settlement(code="ABJ", name="Abidjan"))
            areas[srid] = store.spatial_units.add(SpatialUnit(
                kind="parcel", settlement_id=site.id, boundary=geometry)).area_m2
    assert areas[4326] == pytest.approx(areas[32630], rel=1e-4)
    # UTM's scale factor near the central meridian shrinks areas by ~0.08%
    assert areas[32630] == pytest.approx(300.0, rel=2e-3)


def test_area_follows_a_boundary_change(store, parcel):
    changed = store.spatial_units.update(parcel.id, boundary=box(400000, 590000, 400040,
                                                                 590015))
    assert changed.area_m2 == pytest.approx(2 * parcel.area_m2, rel=1e-3)
    assert store.spatial_units.get(parcel.id).area_m2 == changed.area_m2


@pytest.mark.parametrize("unit,field,error", [
    (dict(kind="parcel"), "boundary", ValidationError),
    (dict(kind="parcel", boundary=Point(1, 1)), "boundary", InvalidGeometryError),
    (dict(kind="parcel", boundary=Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])), "boundary",
     InvalidGeometryError),
    (dict(kind="parcel", boundary=Polygon()), "boundary", InvalidGeometryError),
    (dict(kind="structure"), "boundary", ValidationError),
    (dict(kind="hut", location=Point(1, 1)), "kind", ValidationError),
    (dict(kind="parcel", boundary=box(0, 0, 1, 1), land_use="slum"), "land_use",
     ValidationError),
])
def test_bad_spatial_units_are_refused(store, settlement, unit, field, error):
    with pytest.raises(error) as info:
        store.spatial_units.add(SpatialUnit(settlement_id=settlement.id, **unit))
    assert info.value.field == field
    assert store.spatial_units.count() == 0


def test_self_intersecting_boundary_says_where(store, settlement):
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    with pytest.raises(InvalidGeometryError, match="Self-intersection"):
        store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                            boundary=bowtie))


def test_missing_settlement_or_parcel_is_refused(store, settlement):
    with pytest.raises(MissingReferenceError, match="settlement"):
        store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id="nope",
                                            boundary=box(0, 0, 1, 1)))
    with pytest.raises(MissingReferenceError, match="parcel"):
        store.spatial_units.add(SpatialUnit(kind="structure", settlement_id=settlement.id,
                                            parcel_id="nope", location=Point(0, 0)))


def test_settlement_code_is_checked(store):
    with pytest.raises(ValidationError, match="capital letters"):
        store.settlements.add(Settlement(code="kou camp", name="x"))
