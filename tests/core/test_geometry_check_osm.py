"""The geometry check on real data: the OpenStreetMap buildings of central Helsinki.

The importer refuses their defects (tests/core/test_cadastre_import.py);
here they are written as they are, the way QGIS's own editing tools or a
GIS officer's bulk load would put them in the store, and the check must
find what is really wrong with them: self-intersecting outlines, rings of
three points, and buildings drawn over each other.
"""
from __future__ import annotations

import pathlib
import uuid
from collections import Counter

import pytest
from shapely.geometry import shape
from shapely.ops import transform
from shapely.validation import explain_validity

from stdm_plugin.core import Settlement
from stdm_plugin.core.cadastre.geometry_check import check_geometry

ROOT = pathlib.Path(__file__).resolve().parents[2]
OSM_BUILDINGS = ROOT.parent / "shared" / "data" / "osm_helsinki" / "buildings.gpkg"
HELSINKI = 3067  # ETRS89 / TM35FIN


def read_buildings() -> list[tuple[int, object]]:
    """(fid, footprint in EPSG:3067) of every building shapely can build at all."""
    import fiona
    import pyproj

    to_tm35 = pyproj.Transformer.from_crs(4326, HELSINKI, always_xy=True).transform
    buildings = []
    with fiona.open(OSM_BUILDINGS) as source:
        for feature in source:
            try:
                footprint = shape(feature["geometry"])
            except ValueError:  # a ring of two points: not even a shape (the importer says so)
                continue
            buildings.append((int(feature.id), transform(to_tm35, footprint)))
    return buildings


@pytest.mark.skipif(not OSM_BUILDINGS.exists(), reason=f"{OSM_BUILDINGS} is not there: the "
                    "shared sample data sits beside the repository")
def test_the_check_finds_the_real_defects_of_osm_buildings(new_store):
    store = new_store(HELSINKI)
    site = store.settlements.add(Settlement(code="HEL", name="Helsinki centre"))
    buildings = read_buildings()
    invalid = {fid for fid, footprint in buildings if not footprint.is_valid}
    codes = {fid: f"HEL-P{n:05d}" for n, (fid, _) in enumerate(buildings, start=1)}
    with store.transaction():  # as they are: past the repository, which would refuse them
        store.db.executemany(
            "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, boundary) VALUES "
            f"(?, 'parcel', ?, ?, ?, {store.db.geometry_param(HELSINKI, multi=True)})",
            [(str(uuid.uuid4()), site.id, n, codes[fid], footprint.wkb)
             for n, (fid, footprint) in enumerate(buildings, start=1)])

    report = check_geometry(store)

    kinds = Counter(f.kind for f in report.findings)
    assert report.parcels_checked == len(buildings) == 489  # 494 less five 2-point rings
    assert kinds == {"invalid_geometry": 18, "overlap": 11}
    flagged = {code for f in report.findings if f.kind == "invalid_geometry"
               for code in f.record_codes}
    assert flagged == {codes[fid] for fid in invalid}
    by_code = {f.record_codes[0]: f for f in report.findings if f.kind == "invalid_geometry"}
    for fid, footprint in buildings:  # the reason GEOS gives, at the place it names
        if fid in invalid:
            reason = explain_validity(footprint).split("[")[0]
            assert reason in by_code[codes[fid]].message
    for overlap in (f for f in report.findings if f.kind == "overlap"):
        assert len(overlap.record_codes) == 2 and overlap.area_m2 > 0.5
        assert overlap.geometry is not None and overlap.geometry.area == pytest.approx(
            overlap.area_m2, rel=0.02)
