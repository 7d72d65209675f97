"""Export, then bring the files back in through the plugin's own importers.

For each format and CRS: the exported parcels, reconciled with the store
they came from, all match one to one with no boundary difference; the
exported structures, imported into a new store, have the same footprints
(within a centimetre) and carry the exported attributes.
"""
from __future__ import annotations

import json

import pytest
from shapely.geometry import Polygon, box

from stdm_plugin.core import Settlement, SpatialUnit
from stdm_plugin.core.cadastre.reconcile import reconcile
from stdm_plugin.core.cadastre.structures import import_structures
from stdm_plugin.core.exchange.export import export_store

FORMATS = ("gpkg", "shp", "geojson")
CRSS = (32630, 4326, 3857)


@pytest.fixture
def mapped(store):
    """Six parcels (one not square) and a structure on each, in UTM 30N."""
    site = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))
    shapes = [box(400000 + 20 * i, 590000, 400020 + 20 * i, 590015) for i in range(5)]
    shapes.append(Polygon([(400100, 590000), (400118, 590001), (400121, 590016.5),
                           (400103, 590014), (400100, 590000)]))
    parcels = store.spatial_units.add_many([SpatialUnit(
        kind="parcel", settlement_id=site.id, land_use="residential", block="B1",
        boundary=shape) for shape in shapes])
    store.spatial_units.add_many([SpatialUnit(
        kind="structure", settlement_id=site.id, parcel_id=parcel.id,
        boundary=parcel.boundary.buffer(-3, join_style=2)) for parcel in parcels])
    return store, site


def file_of(result, layer: str) -> tuple[str, str | None]:
    path = result.layer_files[layer]
    return path, (layer if path.endswith(".gpkg") else None)


@pytest.mark.parametrize("crs", CRSS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_parcels_reconcile_as_matched(mapped, tmp_path, fmt, crs):
    store, site = mapped
    result = export_store(store, tmp_path / "out", format=fmt, crs=crs, layers=("parcels",))
    path, layer = file_of(result, "parcels")
    code_field = result.field_names["parcels"]["code"]
    # GeoJSON in WGS 84 keeps 8 decimals (RFC 7946): about a millimetre, so up to
    # ~0.02 m² of difference along a 70 m boundary; the other files are exact
    tolerance = 0.05 if (fmt, crs) == ("geojson", 4326) else 0.001
    found = reconcile(store, path, site.id, layer=layer, id_field=code_field,
                      boundary_tolerance_m2=tolerance)
    counts = found.counts()
    assert counts["enumerated"]["matched"] == counts["cadastral"]["matched"] == 6, (
        found.summary())
    assert sum(counts["enumerated"].values()) + sum(counts["cadastral"].values()) == 12
    for parcel in found.of("enumerated", "matched"):
        assert parcel.symmetric_difference_m2 < tolerance
        assert [o.partner for o in parcel.overlaps] == [parcel.parcel]  # the same code


@pytest.mark.parametrize("crs", CRSS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_structures_import_with_the_same_footprints(mapped, new_store, tmp_path,
                                                             fmt, crs):
    store, _ = mapped
    result = export_store(store, tmp_path / "out", format=fmt, crs=crs,
                          layers=("structures",))
    path, layer = file_of(result, "structures")
    code_field = result.field_names["structures"]["code"]
    target = new_store()
    site = target.settlements.add(Settlement(code="NEW", name="Re-imported"))
    report = import_structures(target, path, site.id, layer=layer)
    assert report.written and report.imported == 6, report.summary()
    originals = {u.code: u for u in store.spatial_units.find("kind = 'structure'")}
    for unit in target.spatial_units.find("kind = 'structure'"):
        attributes = json.loads(unit.answers)["attributes"]
        original = originals[attributes[code_field]]
        # same footprint, within a centimetre, back in the store's CRS
        assert unit.boundary.symmetric_difference(original.boundary).area < 0.01 * (
            original.boundary.length)
        assert unit.area_m2 == pytest.approx(original.area_m2, abs=0.05)
        assert attributes[result.field_names["structures"]["area_m2"]] == pytest.approx(
            original.area_m2)
