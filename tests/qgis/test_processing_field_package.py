"""stdm:cutfieldpackage through the Processing API, as a model or qgis_process runs it.

The store is the demo settlement. Packages are cut for blocks, for the
selected polygon of a layer in WGS 84, with personal data pseudonymised;
what Processing returns is checked against the folder, the package's store
and its project; refusals name what is wrong and leave nothing behind.
"""
from __future__ import annotations

import os
import pathlib
import sqlite3
import sys

import pytest
import shapely
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)
from shapely import wkb as shapely_wkb

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.field_package import MANIFEST, PACKAGE_STORE, read_manifest
from stdm_plugin.core.safety.personal_data import Pseudonymiser
from stdm_plugin.core.store.users import sign_in
from stdm_plugin.plugin import StdmPlugin
from stdm_plugin.qgis.packages.field_project import PROJECT_FILE

QGIS_PYTHON_PLUGINS = "/usr/share/qgis/python/plugins"
DEMO_DATA = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"
ALGORITHM = "stdm:cutfieldpackage"


@pytest.fixture(scope="module")
def processing(qgis_app):
    """Processing initialised as in QGIS, with the provider registered as qgis_process does."""
    if QGIS_PYTHON_PLUGINS not in sys.path:
        sys.path.append(QGIS_PYTHON_PLUGINS)
    from processing.core.Processing import Processing

    Processing.initialize()
    import processing as runner

    plugin = StdmPlugin(None)
    plugin.initProcessing()
    yield runner
    QgsApplication.processingRegistry().removeProvider(plugin.processing_provider)
    plugin.processing_provider = None


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "koumassi.sqlite"
    with SettlementStore.create(path, 32630, actor="supervisor") as store:
        load_demo_settlement(store, DEMO_DATA)
    return str(path)


def parcels(store_path, where="1 = 1", params=()):
    with SettlementStore.open(store_path, read_only=True) as store:
        return {r["id"]: shapely_wkb.loads(bytes(r["boundary"])) for r in store.db.query(
            "SELECT id, AsBinary(boundary) AS boundary FROM spatial_unit WHERE kind = 'parcel' "
            f"AND end_lifespan_version IS NULL AND {where}", params)}


def package_query(folder, sql):
    con = sqlite3.connect(os.path.join(folder, PACKAGE_STORE))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def registered(store_path):
    con = sqlite3.connect(store_path)
    try:
        return con.execute("SELECT id, team, personal_data FROM field_package").fetchall()
    finally:
        con.close()


def test_cut_for_blocks_returns_the_folder_project_and_counts(processing, demo, tmp_path):
    folder = str(tmp_path / "equipe_a")
    result = processing.run(ALGORITHM, {
        "STORE": demo, "TEAM": "Equipe A", "BLOCKS": "B2A, B2B", "ENUMERATORS": "moussa",
        "DEVICE": "tablet-07", "MARGIN": 5, "OUTPUT": folder}, feedback=QgsProcessingFeedback())
    manifest = read_manifest(folder)
    assert result["OUTPUT"] == folder
    assert result["PROJECT"] == os.path.join(folder, PROJECT_FILE)
    assert os.path.isfile(result["PROJECT"]) and os.path.isfile(os.path.join(folder, MANIFEST))
    assert result["PACKAGE_ID"] == manifest.id
    assert result["PSEUDONYM_KEY"] == ""  # names included, the default
    assert (result["SPATIAL_UNITS"], result["PARTIES"], result["TENURE"],
            result["DOCUMENTS"]) == (manifest.counts["spatial_unit"], manifest.counts["party"],
                                     manifest.counts["social_tenure"],
                                     manifest.counts["supporting_document"])
    assert (manifest.team, manifest.enumerators, manifest.device, manifest.margin_m,
            manifest.personal_data) == ("Equipe A", ["moussa"], "tablet-07", 5.0, "include")
    blocks = shapely.union_all(list(parcels(demo, "block IN ('B2A', 'B2B')").values()))
    expected = {i for i, shape in parcels(demo).items() if shape.intersects(blocks.buffer(5))}
    assert {r[0] for r in package_query(folder, "SELECT id FROM spatial_unit "
                                                "WHERE kind = 'parcel'")} == expected
    assert registered(demo) == [(manifest.id, "Equipe A", "include")]
    project = QgsProject.instance()
    assert project.read(result["PROJECT"])
    try:
        assert all(layer.isValid() for layer in project.mapLayers().values())
        assert project.title() == "Field package: team Equipe A"
    finally:
        project.clear()


def test_cut_for_the_selected_polygon_of_a_layer_in_another_crs(processing, demo, tmp_path):
    some = parcels(demo, "block = 'B6D'")
    drawn = shapely.box(*shapely.union_all(list(some.values())).bounds)
    geometry = QgsGeometry.fromWkt(drawn.wkt)
    geometry.transform(QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32630"),
                                              QgsCoordinateReferenceSystem("EPSG:4326"),
                                              QgsProject.instance()))
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "zones", "memory")
    chosen, elsewhere = QgsFeature(layer.fields()), QgsFeature(layer.fields())
    chosen.setGeometry(geometry)
    elsewhere.setGeometry(QgsGeometry.fromWkt("POLYGON((-3.9 5.2, -3.8 5.2, -3.8 5.3, "
                                              "-3.9 5.2))"))
    layer.dataProvider().addFeatures([chosen, elsewhere])
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByIds([next(layer.getFeatures()).id()])
        folder = str(tmp_path / "equipe_b")
        result = processing.run(ALGORITHM, {
            "STORE": demo, "TEAM": "Equipe B", "MARGIN": 0, "OUTPUT": folder,
            "AREA": QgsProcessingFeatureSourceDefinition(layer.id(), True)})
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    area = shapely.from_wkt(read_manifest(folder).area_wkt)
    assert area.area == pytest.approx(drawn.area, rel=1e-3)
    touched = {i for i, shape in parcels(demo).items() if shape.intersects(area)}
    assert {r[0] for r in package_query(folder, "SELECT id FROM spatial_unit "
                                                "WHERE kind = 'parcel'")} == touched
    assert set(some) <= touched and result["SPATIAL_UNITS"] >= len(touched)


def test_pseudonymised_package_returns_its_key(processing, demo, tmp_path):
    folder = str(tmp_path / "equipe_c")
    feedback = QgsProcessingFeedback()
    result = processing.run(ALGORITHM, {
        "STORE": demo, "TEAM": "Equipe C", "BLOCKS": "B1A", "PERSONAL_DATA": 2,
        "OUTPUT": folder}, feedback=feedback)
    key = result["PSEUDONYM_KEY"]
    assert len(bytes.fromhex(key)) == 32
    assert "The pseudonym key is in the output PSEUDONYM_KEY" in feedback.textLog()
    with SettlementStore.open(demo, read_only=True) as store:
        names = {r["id"]: r["first_name"] for r in store.db.query(
            "SELECT id, first_name FROM party WHERE party_type = 'person'")}
    packed = package_query(folder, "SELECT id, first_name FROM party "
                                   "WHERE party_type = 'person'")
    pseudonyms = Pseudonymiser(bytes.fromhex(key))
    assert packed and all(name == pseudonyms.pseudonym("first_name", names[i])
                          for i, name in packed)
    assert registered(demo)[0][2] == "pseudonymise"


def run_refused(processing, parameters):
    with pytest.raises(QgsProcessingException) as refused:
        processing.run(ALGORITHM, parameters, context=QgsProcessingContext(),
                       feedback=QgsProcessingFeedback())
    return str(refused.value)


def test_refusals_name_the_problem_and_leave_nothing(processing, demo, tmp_path):
    folder = tmp_path / "p"
    base = {"STORE": demo, "TEAM": "Equipe A", "OUTPUT": str(folder)}
    assert "Give the blocks (BLOCKS) or an area layer (AREA)" in run_refused(processing, base)
    assert "No parcels in the blocks Z9." in run_refused(processing, {**base, "BLOCKS": "Z9"})
    assert "Name the team" in run_refused(processing, {**base, "TEAM": " ", "BLOCKS": "B1A"})
    folder.mkdir()
    (folder / "x.txt").write_text("mine")
    assert "already exists and is not empty" in run_refused(processing,
                                                            {**base, "BLOCKS": "B1A"})
    assert os.listdir(folder) == ["x.txt"]
    with SettlementStore.open(demo, actor="setup") as store:
        store.users.create("admin", "Adèle Admin", "administrator", password="a")
        sign_in(store, "admin", "a")
    assert "Sign in to cut field package" in run_refused(
        processing, {**base, "BLOCKS": "B1A", "OUTPUT": str(tmp_path / "q")})
    assert not (tmp_path / "q").exists()
    assert registered(demo) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("p.", "q."))] == []


def test_cancelled_before_the_first_table_leaves_nothing(processing, demo, tmp_path):
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    folder = tmp_path / "cancelled"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        processing.run(ALGORITHM, {"STORE": demo, "TEAM": "Equipe D", "BLOCKS": "B3A",
                                   "OUTPUT": str(folder)}, feedback=feedback)
    assert not folder.exists() and registered(demo) == []
    assert [p.name for p in tmp_path.iterdir()] == ["koumassi.sqlite"]
