"""Cadastre exchange: footprints imported as structures, parcels reconciled with a cadastre.

Every bad input is written by the test itself with fiona (or by hand where
fiona would repair it) and must come back as a message naming the file,
the feature and, where there is one, the field. The real OpenStreetMap
buildings of central Helsinki show what real-world defects look like.
"""
from __future__ import annotations

import json
import os
import sqlite3
import struct
import zipfile
from pathlib import Path

import fiona
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping

from stdm_plugin.core import Settlement, SpatialUnit
from stdm_plugin.core.cadastre.reconcile import reconcile
from stdm_plugin.core.cadastre.spatial_files import read_spatial_file
from stdm_plugin.core.cadastre.structures import import_structures
from stdm_plugin.core.store.errors import SpatialFileError

ROOT = Path(__file__).resolve().parents[2]
OSM_BUILDINGS = ROOT.parent / "shared" / "data" / "osm_helsinki" / "buildings.gpkg"
X0, Y0 = 400000, 590000  # the conftest parcel's corner, UTM 30N
POLYGON_SCHEMA = {"geometry": "Polygon", "properties": {"name": "str:40", "owner": "str:40"}}


def square(x: float, y: float, size: float = 8) -> dict:
    return mapping(box(X0 + x, Y0 + y, X0 + x + size, Y0 + y + size))


def write_shapefile(path: Path, features: list[tuple[dict, dict]], *, crs="EPSG:32630",
                    encoding: str | None = None, schema=POLYGON_SCHEMA) -> Path:
    options = {"encoding": encoding} if encoding else {}
    with fiona.open(path, "w", driver="ESRI Shapefile", crs=crs, schema=schema,
                    **options) as sink:
        for geometry, properties in features:
            sink.write({"geometry": geometry, "properties": {
                name: properties.get(name) for name in schema["properties"]}})
    return path


def write_gpkg(path: Path, layer: str, features: list[tuple[dict, dict]], *, crs="EPSG:32630",
               schema=POLYGON_SCHEMA) -> Path:
    with fiona.open(path, "w", driver="GPKG", layer=layer, crs=crs, schema=schema) as sink:
        for geometry, properties in features:
            sink.write({"geometry": geometry, "properties": {
                name: properties.get(name) for name in schema["properties"]}})
    return path


def write_geojson(path: Path, features: list[dict]) -> Path:
    """By hand, so that fiona cannot close a ring or drop a defect on the way."""
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    return path


def lonlat_square(x: float, y: float, size: float = 8) -> list:
    """A square of the UTM 30N grid, as GeoJSON longitude/latitude."""
    to_lonlat = Transformer.from_crs(32630, 4326, always_xy=True).transform
    ring = [to_lonlat(X0 + x + dx, Y0 + y + dy)
            for dx, dy in ((0, 0), (size, 0), (size, size), (0, size), (0, 0))]
    return [[list(p) for p in ring]]


def feature(geometry: dict | None, **properties) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def structures(store) -> list[SpatialUnit]:
    return store.spatial_units.structures()


def only_problem(report, kind: str):
    found = [p for p in report.problems if p.kind == kind]
    assert len(found) == 1, [p.message for p in report.problems]
    return found[0]


# --- structures from good files ---------------------------------------------------------
def test_shapefile_footprints_become_structures_on_their_parcels(store, settlement, parcel,
                                                                 tmp_path):
    path = write_shapefile(tmp_path / "footprints.shp", [
        (square(2, 2), {"name": "inside", "owner": "Awa"}),        # within the parcel
        (square(15, 10, 10), {"name": "straddling", "owner": ""}),  # mostly outside it
        (square(100, 100), {"name": "away", "owner": None}),
    ])
    report = import_structures(store, path, settlement.id)
    assert report.ok and report.written, report.summary()
    assert (report.features_read, report.imported, report.rejected) == (3, 3, 0)
    assert report.linked_to_parcels == 1 and report.source_crs == "EPSG:32630"
    found = {json.loads(s.answers)["attributes"]["name"]: s for s in structures(store)}
    assert [found[n].code for n in ("inside", "straddling", "away")] == [
        "KOU-S00001", "KOU-S00002", "KOU-S00003"]
    assert found["inside"].parcel_id == parcel.id
    assert found["straddling"].parcel_id is None and found["away"].parcel_id is None
    assert found["inside"].area_m2 == pytest.approx(64, rel=2e-3)
    assert found["inside"].created_by == "tester"
    assert found["inside"].remarks == "Imported from footprints.shp, fid 0"
    assert json.loads(found["inside"].answers)["source"]["fid"] == "0"
    assert store.history("spatial_unit", found["inside"].id)[0]["action"] == "insert"


def test_geopackage_in_wgs84_is_reprojected_to_the_store(store, settlement, tmp_path):
    to_lonlat = Transformer.from_crs(32630, 4326, always_xy=True).transform
    corner = to_lonlat(X0 + 50, Y0 + 50)
    lonlat = mapping(box(corner[0], corner[1], corner[0] + 0.0001, corner[1] + 0.0001))
    path = write_gpkg(tmp_path / "wgs84.gpkg", "footprints", [(lonlat, {"name": "a"})],
                      crs="EPSG:4326")
    report = import_structures(store, path, settlement.id)
    assert report.imported == 1 and report.source_crs == "EPSG:4326"
    (built,) = structures(store)
    corners = shapely.points(shapely.get_coordinates(built.boundary))
    assert min(shapely.distance(corners, shapely.Point(X0 + 50, Y0 + 50))) < 0.001


def test_geopackage_layer_choice(store, settlement, tmp_path):
    path = write_gpkg(tmp_path / "two.gpkg", "footprints", [(square(0, 0), {"name": "a"})])
    write_gpkg(path, "outbuildings", [(square(20, 0), {"name": "b"}),
                                      (square(40, 0), {"name": "c"})])
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "layer")
    assert "two.gpkg" in problem.message and "footprints, outbuildings" in problem.message
    assert not report.written and structures(store) == []
    report = import_structures(store, path, settlement.id, layer="nope")
    assert "no layer 'nope'" in only_problem(report, "layer").message
    report = import_structures(store, path, settlement.id, layer="outbuildings")
    assert report.imported == 2 and report.layer == "outbuildings"


# --- CRS --------------------------------------------------------------------------------
def test_shapefile_without_prj_is_refused_unless_a_crs_is_given(store, settlement, tmp_path):
    path = write_shapefile(tmp_path / "noprj.shp", [(square(0, 0), {"name": "a"})])
    os.remove(tmp_path / "noprj.prj")
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "missing_crs")
    assert "noprj.shp" in problem.message and "no .prj file" in problem.message
    assert "source CRS" in problem.message
    assert not report.written and structures(store) == []
    report = import_structures(store, path, settlement.id, source_crs="EPSG:32630")
    assert report.imported == 1 and report.ok


def test_a_given_crs_that_differs_from_the_file_wins_with_a_warning(store, settlement,
                                                                   tmp_path):
    path = write_shapefile(tmp_path / "declared.shp", [(square(0, 0), {"name": "a"})],
                           crs="EPSG:32631")
    report = import_structures(store, path, settlement.id, source_crs=32630)
    assert report.imported == 1
    warning = only_problem(report, "crs_override")
    assert warning.severity == "warning" and "EPSG:32631" in warning.message


def test_metres_in_a_geojson_that_says_degrees_are_refused(store, settlement, tmp_path):
    path = write_geojson(tmp_path / "metres.geojson", [feature(square(0, 0), name="a")])
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "unknown_crs")
    assert "metres.geojson" in problem.message and "not longitudes and latitudes" in (
        problem.message)


# --- encodings --------------------------------------------------------------------------
def test_cp1252_dbf_without_cpg_falls_back_with_a_warning(store, settlement, tmp_path):
    path = write_shapefile(tmp_path / "cp.shp", [
        (square(0, 0), {"name": "Koné – “Café”", "owner": "Awa"}),
        (square(20, 0), {"name": "plain", "owner": "Yao"}),
    ], encoding="cp1252")
    os.remove(tmp_path / "cp.cpg")
    report = import_structures(store, path, settlement.id)
    assert report.written and report.imported == 2 and report.ok
    warning = only_problem(report, "encoding_fallback")
    assert warning.severity == "warning" and (warning.fid, warning.index) == ("0", 0)
    assert warning.field == "name" and warning.value == "Koné – “Café”"
    assert warning.message.startswith("cp.shp, feature fid 0 (index 0), field 'name': ")
    names = {json.loads(s.answers)["attributes"]["name"] for s in structures(store)}
    assert names == {"Koné – “Café”", "plain"}


def test_cp1252_dbf_read_without_warning_when_declared_or_given(store, settlement, tmp_path):
    path = write_shapefile(tmp_path / "cp.shp", [(square(0, 0), {"name": "Koné"})],
                           encoding="cp1252")
    assert (tmp_path / "cp.cpg").read_text().strip().upper() == "CP1252"
    read = read_spatial_file(path, 32630)
    assert read.features[0].attributes["name"] == "Koné" and read.problems == []
    os.remove(tmp_path / "cp.cpg")
    read = read_spatial_file(path, 32630, encoding="cp1252")
    assert read.features[0].attributes["name"] == "Koné" and read.problems == []


def test_cp1252_field_names_without_cpg_read_as_cp1252(tmp_path):
    schema = {"geometry": "Polygon", "properties": {"Propriété": "str:20"}}
    path = write_shapefile(tmp_path / "names.shp", [(square(0, 0), {"Propriété": "Café"})],
                           encoding="cp1252", schema=schema)
    os.remove(tmp_path / "names.cpg")
    read = read_spatial_file(path, 32630)
    assert read.features[0].attributes == {"Propriété": "Café"}
    (note,) = read.problems
    assert note.kind == "encoding_fallback" and "field names" in note.message


def test_invalid_utf8_in_geojson_names_feature_and_field(store, settlement, tmp_path):
    path = write_geojson(tmp_path / "bad_text.geojson", [
        feature({"type": "Polygon", "coordinates": lonlat_square(0, 0)}, name="KONE", n=1),
        feature({"type": "Polygon", "coordinates": lonlat_square(20, 0)}, name="BAD", n=2),
    ])
    path.write_bytes(path.read_bytes().replace(b"BAD", b"Kon\xe9"))
    report = import_structures(store, path, settlement.id, mode="valid_only")
    problem = only_problem(report, "encoding")
    assert problem.message.startswith(
        "bad_text.geojson, feature fid 1 (index 1), field 'name': this text is not UTF-8")
    assert problem.value == "Kon\ufffd"
    assert report.imported == 1 and report.rejected == 1


def test_invalid_utf8_in_geopackage_text(tmp_path):
    path = write_gpkg(tmp_path / "text.gpkg", "parcels", [(square(0, 0), {"name": "x"})])
    with sqlite3.connect(path) as con:
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            con.execute(f'DROP TRIGGER "{trigger}"')
        con.execute("UPDATE parcels SET name = CAST(x'4b6f6ee9' AS TEXT)")
    (problem,) = read_spatial_file(path, 32630).problems
    assert (problem.kind, problem.field, problem.fid) == ("encoding", "name", "1")
    assert "text.gpkg, layer 'parcels', feature fid 1 (index 0)" in problem.message


# --- geometry defects -------------------------------------------------------------------
def test_null_geometry_all_or_nothing_then_valid_only(store, settlement, tmp_path):
    path = write_geojson(tmp_path / "null.geojson", [
        feature({"type": "Polygon", "coordinates": lonlat_square(0, 0)}, name="a"),
        feature(None, name="no shape"),
        feature({"type": "Polygon", "coordinates": lonlat_square(20, 0)}, name="c"),
    ])
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "no_geometry")
    assert problem.message.startswith("null.geojson, feature fid 1 (index 1): ")
    assert (report.written, report.rejected, report.held_back) == (False, 1, 2)
    assert "Nothing was written" in report.summary() and structures(store) == []
    report = import_structures(store, path, settlement.id, mode="valid_only")
    assert (report.written, report.imported, report.rejected) == (True, 2, 1)
    assert report.rejected_fids() == {"1"} and len(structures(store)) == 2


def test_mixed_geometry_types(store, settlement, tmp_path):
    path = write_geojson(tmp_path / "mixed.geojson", [
        feature({"type": "Polygon", "coordinates": lonlat_square(0, 0)}, name="a"),
        feature({"type": "LineString", "coordinates": lonlat_square(20, 0)[0]}, name="wall"),
        feature({"type": "Point", "coordinates": lonlat_square(40, 0)[0][0]}, name="well"),
    ])
    report = import_structures(store, path, settlement.id, mode="valid_only")
    found = [p for p in report.problems if p.kind == "mixed_geometry_types"]
    assert [(p.fid, p.value) for p in found] == [("1", "LineString"), ("2", "Point")]
    assert "a LineString among Polygon and MultiPolygon features (the layer holds 1 " \
           "Polygon, 1 LineString, 1 Point)" in found[0].message
    assert report.imported == 1


def test_only_points_where_polygons_are_expected(store, settlement, tmp_path):
    path = write_geojson(tmp_path / "wells.geojson", [
        feature({"type": "Point", "coordinates": [-3.9, 5.3]}, name="well")])
    problem = only_problem(import_structures(store, path, settlement.id),
                           "wrong_geometry_type")
    assert "wells.geojson holds 1 Point and no Polygon or MultiPolygon" in problem.message


def test_non_closed_ring_in_geojson(store, settlement, tmp_path):
    ring = lonlat_square(0, 0)[0][:-1]  # four corners, the first not repeated
    path = write_geojson(tmp_path / "open.geojson", [
        feature({"type": "Polygon", "coordinates": [ring]}, name="open")])
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "non_closed_ring")
    assert problem.message.startswith("open.geojson, feature fid 0 (index 0): the outer ring "
                                      "is not closed: it starts at (")
    assert not report.written


def test_non_closed_ring_in_geopackage(store, settlement, tmp_path):
    """GDAL reads a GeoPackage's unclosed ring as it is; shapely would close it silently."""
    path = write_gpkg(tmp_path / "open.gpkg", "footprints", [(square(0, 0), {"name": "a"}),
                                                              (square(20, 0), {"name": "b"})])
    with sqlite3.connect(path) as con:
        for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            con.execute(f'DROP TRIGGER "{trigger}"')
        blob = con.execute("SELECT geom FROM footprints WHERE fid = 2").fetchone()[0]
        header = 8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(blob[3] >> 1) & 7]
        wkb = blob[header:]  # little-endian Polygon: order, type, rings, points, xy...
        points = struct.unpack("<I", wkb[9:13])[0]
        unclosed = wkb[:9] + struct.pack("<I", points - 1) + wkb[13:13 + 16 * (points - 1)]
        con.execute("UPDATE footprints SET geom = ? WHERE fid = 2", (blob[:header] + unclosed,))
    report = import_structures(store, path, settlement.id, mode="valid_only")
    problem = only_problem(report, "non_closed_ring")
    assert problem.message.startswith("open.gpkg, layer 'footprints', feature fid 2 (index 1)")
    assert report.imported == 1


def test_bow_tie_is_invalid(store, settlement, tmp_path):
    bow_tie = {"type": "Polygon", "coordinates": [[
        (X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10), (X0, Y0)]]}
    path = write_shapefile(tmp_path / "bowtie.shp", [(square(20, 0), {"name": "ok"}),
                                                      (bow_tie, {"name": "bow tie"})])
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, "invalid_geometry")
    assert problem.message == ("bowtie.shp, feature fid 1 (index 1): the geometry is not "
                               "valid: self-intersection at (400005, 590005) in the file's "
                               "coordinates.")
    assert not report.written and report.held_back == 1


def test_empty_and_degenerate_geometries(tmp_path):
    path = write_geojson(tmp_path / "degenerate.geojson", [
        feature({"type": "GeometryCollection", "geometries": []}, name="nothing"),
        feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, name="flat"),
        feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
                name="fine"),
    ])
    read = read_spatial_file(path, 4326, expect=None)
    assert [(p.fid, p.kind) for p in read.problems] == [("0", "empty_geometry"),
                                                        ("1", "too_few_points")]
    assert "2 distinct corner(s) (3 points)" in read.problems[1].message
    assert [f.fid for f in read.usable()] == ["2"]


# --- files that are not what they seem ---------------------------------------------------
@pytest.mark.parametrize("case", ["missing", "text", "zip", "folder", "csv", "no_dbf",
                                  "empty_layer", "table"])
def test_bad_files_are_reported_never_raised(store, settlement, tmp_path, case):
    if case == "missing":
        path, kind = tmp_path / "nowhere.gpkg", "missing_file"
    elif case == "text":
        path, kind = tmp_path / "notes.geojson", "unreadable"
        path.write_text("these are not features")
    elif case == "zip":
        shp = write_shapefile(tmp_path / "inzip.shp", [(square(0, 0), {"name": "a"})])
        path, kind = tmp_path / "cadastre.gpkg", "zip_archive"
        with zipfile.ZipFile(path, "w") as archive:
            archive.write(shp, "inzip.shp")
    elif case == "folder":
        path, kind = tmp_path / "folder.shp", "folder"
        path.mkdir()
    elif case == "csv":
        path, kind = tmp_path / "parcels.csv", "not_spatial"
        path.write_text("id,wkt\n")
    elif case == "no_dbf":
        path, kind = write_shapefile(tmp_path / "lone.shp", [(square(0, 0), {})]), \
            "missing_sidecar"
        os.remove(tmp_path / "lone.dbf")
    elif case == "empty_layer":
        path, kind = write_gpkg(tmp_path / "empty.gpkg", "footprints", []), "empty_layer"
    else:
        path, kind = tmp_path / "table.gpkg", "no_geometry_column"
        write_gpkg(path, "owners", [(None, {"name": "a"})],
                   schema={"geometry": "None", "properties": {"name": "str"}})
    report = import_structures(store, path, settlement.id)
    problem = only_problem(report, kind)
    assert path.name in problem.message and problem.severity == "error"
    assert not report.written and structures(store) == []
    with pytest.raises(SpatialFileError) as raised:
        read_spatial_file(path, 32630)
    assert raised.value.kind == kind and path.name in str(raised.value)


# --- reconciliation ---------------------------------------------------------------------
def test_reconcile_classifies_every_parcel(store, settlement, tmp_path):
    other = store.settlements.add(Settlement(code="ANO", name="Another settlement"))
    enumerated = {
        "E1": box(0, 0, 20, 20), "E2": box(100, 0, 120, 20), "E3": box(200, 0, 220, 20),
        "E5": box(400, 0, 440, 20), "E6a": box(500, 0, 520, 20), "E6b": box(520, 0, 540, 20),
        "E7": box(600, 0, 620, 20)}
    cadastral = {
        "C1": box(0, 0, 20, 20), "C2": box(100, 0, 121, 20), "C4": box(300, 0, 320, 20),
        "C5a": box(400, 0, 420, 20), "C5b": box(420, 0, 440, 20), "C6": box(500, 0, 540, 20),
        "C7": box(600.05, 0, 620.05, 20), "C8": box(700, 0, 720, 20)}
    moved = {name: shapely.affinity.translate(g, X0, Y0) for name, g in enumerated.items()}
    codes = {}
    for name, geometry in moved.items():
        record = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                                     boundary=geometry, remarks=name))
        codes[record.code] = name
    store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=other.id,
                                        boundary=moved["E3"]))  # another settlement's
    path = write_gpkg(tmp_path / "cadastre.gpkg", "parcels", [
        (mapping(shapely.affinity.translate(g, X0, Y0)), {"name": name, "owner": None})
        for name, g in cadastral.items()])
    audit_before = store.db.scalar("SELECT count(*) FROM audit_log")

    result = reconcile(store, path, settlement.id, id_field="name")

    assert store.db.scalar("SELECT count(*) FROM audit_log") == audit_before
    by_name = {codes.get(p.parcel, p.parcel): p for p in result.parcels}
    assert {n: p.status for n, p in by_name.items()} == {
        "E1": "matched", "C1": "matched", "E2": "changed_boundary", "C2": "changed_boundary",
        "E3": "new", "C4": "missing", "C8": "missing",
        "E5": "conflict", "C5a": "conflict", "C5b": "conflict",
        "E6a": "conflict", "E6b": "conflict", "C6": "conflict",
        "E7": "matched", "C7": "matched"}
    assert by_name["E1"].symmetric_difference_m2 == pytest.approx(0, abs=1e-6)
    assert by_name["E2"].symmetric_difference_m2 == pytest.approx(20, rel=2e-3)
    assert by_name["E7"].symmetric_difference_m2 == pytest.approx(2, rel=2e-3)
    assert by_name["E5"].group == by_name["C5a"].group == by_name["C5b"].group
    assert by_name["E6a"].group == by_name["C6"].group != by_name["E5"].group
    assert [(o.partner, o.share_of_this, o.share_of_partner) for o in by_name["E5"].overlaps] \
        == [("C5a", pytest.approx(0.5), pytest.approx(1)),
            ("C5b", pytest.approx(0.5), pytest.approx(1))]
    assert result.counts() == {
        "enumerated": {"matched": 2, "changed_boundary": 1, "new": 1, "missing": 0,
                       "conflict": 3},
        "cadastral": {"matched": 2, "changed_boundary": 1, "new": 0, "missing": 2,
                      "conflict": 3}}
    assert "Nothing was written to the store." in result.summary()
    row = by_name["C2"].row()
    assert row["side"] == "cadastral" and row["fid"] == "2" and row["partners"] in codes
    assert shapely.from_wkb(row["geometry_wkb"]).equals(
        shapely.affinity.translate(cadastral["C2"], X0, Y0))
    result.write_csv(str(tmp_path / "reconciliation.csv"))
    lines = (tmp_path / "reconciliation.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("side,status,parcel") and lines[0].endswith(",wkt")
    assert len(lines) == 1 + len(result.parcels)


def test_reconcile_spread_parcel_and_repaired_cadastre(store, settlement, tmp_path):
    store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                        boundary=box(X0 + 10, Y0 + 40, X0 + 30, Y0 + 60)))
    bow_tie = {"type": "Polygon", "coordinates": [[
        (X0 + 100, Y0), (X0 + 110, Y0 + 10), (X0 + 110, Y0), (X0 + 100, Y0 + 10),
        (X0 + 100, Y0)]]}
    path = write_shapefile(tmp_path / "cad.shp", [
        (mapping(box(X0, Y0 - 50, X0 + 20, Y0 + 50)), {"name": "west"}),   # 20x100
        (mapping(box(X0 + 20, Y0 - 50, X0 + 40, Y0 + 50)), {"name": "east"}),
        (bow_tie, {"name": "tie"}), (None, {"name": "nothing"})])
    result = reconcile(store, path, settlement.id, id_field="name")
    (spread,) = result.of("enumerated")  # a quarter in each, half outside the cadastre
    assert spread.status == "conflict" and spread.group is not None
    assert [o.share_of_this for o in spread.overlaps] == [pytest.approx(0.25)] * 2
    assert {p.parcel: p.status for p in result.of("cadastral")} == {
        "west": "missing", "east": "missing", "tie": "missing"}
    repaired = [p for p in result.problems if p.kind == "invalid_geometry"]
    assert repaired[0].severity == "warning" and "Repaired" in repaired[0].message
    unusable = [p for p in result.problems if p.severity == "error"]
    assert [(p.fid, p.kind) for p in unusable] == [("3", "no_geometry")]
    assert "1 cadastral feature(s) could not be compared" in result.summary()
    with pytest.raises(SpatialFileError, match="no field 'PARCEL_NO'"):
        reconcile(store, path, settlement.id, id_field="PARCEL_NO")


def test_reconcile_repairs_an_enumerated_parcel_made_invalid_outside(store, settlement, parcel,
                                                                    tmp_path):
    """QGIS's own editing tools can save a bow-tie; reconcile compares it repaired."""
    bow_tie = shapely.MultiPolygon([shapely.Polygon([
        (X0, Y0), (X0 + 20, Y0 + 15), (X0 + 20, Y0), (X0, Y0 + 15)])])
    store.db.execute(f"UPDATE spatial_unit SET boundary = "
                     f"{store.db.geometry_param(store.srid, True)} WHERE id = ?",
                     (bow_tie.wkb, parcel.id))
    path = write_shapefile(tmp_path / "cad.shp", [
        (mapping(box(X0, Y0, X0 + 20, Y0 + 15)), {"name": "C1"})])
    result = reconcile(store, path, settlement.id, id_field="name")
    (warning,) = result.problems
    assert warning.severity == "warning" and warning.fid == "KOU-P00001"
    assert "KOU-P00001's boundary is not valid; repaired" in warning.message
    (mine,) = result.of("enumerated")
    assert mine.status == "changed_boundary" and mine.overlaps[0].partner == "C1"
    assert mine.symmetric_difference_m2 == pytest.approx(150, rel=2e-3)  # two triangles


# --- the real OpenStreetMap buildings of central Helsinki ----------------------------------
#: found by reading the file: 12 buildings with a degenerate outer ring (2 or 3 points, 1 or
#: 2 distinct corners) and 11 multipolygons that cross themselves; every ring is closed
OSM_TOO_FEW_POINTS = {"13", "144", "156", "229", "235", "236", "241", "263", "323", "324",
                      "427", "474"}
OSM_SELF_INTERSECTING = {"43", "57", "92", "97", "100", "110", "155", "171", "290", "307",
                         "348"}


@pytest.mark.skipif(not OSM_BUILDINGS.exists(), reason=f"{OSM_BUILDINGS} is not there: the "
                    "shared sample data (../shared/data) is not checked out beside the repo")
def test_osm_helsinki_buildings_as_structures(new_store):
    store = new_store(3067)  # ETRS-TM35FIN
    settlement = store.settlements.add(Settlement(code="HEL", name="Helsinki centre"))
    report = import_structures(store, OSM_BUILDINGS, settlement.id)
    by_kind: dict[str, set[str]] = {}
    for problem in report.errors():
        by_kind.setdefault(problem.kind, set()).add(problem.fid)
        assert problem.message.startswith(
            f"buildings.gpkg, layer 'buildings', feature fid {problem.fid} (index ")
    assert by_kind == {"too_few_points": OSM_TOO_FEW_POINTS,
                       "invalid_geometry": OSM_SELF_INTERSECTING}
    assert (report.features_read, report.rejected, report.held_back) == (494, 23, 471)
    assert not report.written and structures(store) == []

    report = import_structures(store, OSM_BUILDINGS, settlement.id, mode="valid_only")
    assert report.written and (report.imported, report.rejected) == (471, 23)
    assert report.rejected_fids() == OSM_TOO_FEW_POINTS | OSM_SELF_INTERSECTING
    built = structures(store)
    assert len(built) == 471 == len(report.structure_ids)
    assert all(s.boundary.is_valid and s.area_m2 > 0 for s in built)
    west, south, east, north = shapely.total_bounds([s.boundary for s in built])
    assert 384000 < west < east < 390000 and 6670000 < south < north < 6676000
    fids = {json.loads(s.answers)["source"]["fid"] for s in built}
    assert not fids & report.rejected_fids() and len(fids) == 471
