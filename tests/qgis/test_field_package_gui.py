"""STDM ▸ Create field package…: the dialog, the background cut and what it leaves (issue #5).

The store is the demo settlement, shown in the project. The modal dialog is
driven through its widgets by replacing its exec_; the cut runs as a QgsTask
through QGIS's task manager and the tests wait for it by processing events
(never ``waitForFinished``: finished(), which writes the project, runs on
the main thread). What was written is read back from the folder and the
store.
"""
from __future__ import annotations

import os
import pathlib
import sqlite3
import threading
import time

import pytest
import shapely
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtWidgets import QProgressBar, QPushButton
from shapely import wkb as shapely_wkb

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.packages.field_package import (
    MANIFEST,
    PACKAGE_STORE,
    PackageRequest,
    read_manifest,
)
from stdm_plugin.core.safety.personal_data import Pseudonymiser
from stdm_plugin.core.store.users import sign_in
from stdm_plugin.gui.packages.cut_dialog import FieldPackageDialog
from stdm_plugin.qgis.packages.cut_task import PackageSetupError, selected_area_wkt
from stdm_plugin.qgis.packages.field_project import PROJECT_FILE

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO_DATA = ROOT / "demo" / "data"
ARTIFACTS = ROOT / "test-artifacts"


def messages(iface, level):
    """The message bar's texts, without the "STDM:" title pytest-qgis puts before them."""
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def wait_until(done, seconds=60):
    deadline = time.monotonic() + seconds
    while not done():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the task did not finish"
        time.sleep(0.01)
    QgsApplication.processEvents()


def screenshot(widget, name):
    widget.show()
    QgsApplication.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


@pytest.fixture
def demo(tmp_path):
    """The demo settlement in a store of its own folder; its path."""
    path = tmp_path / "office" / "koumassi.sqlite"
    path.parent.mkdir()
    with SettlementStore.create(path, 32630, actor="supervisor") as store:
        load_demo_settlement(store, DEMO_DATA)
    return str(path)


@pytest.fixture
def shown(plugin, demo):
    assert plugin.show_store(demo)
    return demo


def registered_packages(store_path):
    con = sqlite3.connect(store_path)
    try:
        return con.execute("SELECT id, team FROM field_package").fetchall()
    finally:
        con.close()


def parcels_of(store_path, where, params=()):
    with SettlementStore.open(store_path, read_only=True) as store:
        return {r["id"]: shapely_wkb.loads(bytes(r["boundary"])) for r in store.db.query(
            f"SELECT id, AsBinary(boundary) AS boundary FROM spatial_unit WHERE kind = 'parcel' "
            f"AND end_lifespan_version IS NULL AND {where}", params)}


def package_rows(folder, sql):
    con = sqlite3.connect(os.path.join(folder, PACKAGE_STORE))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def progress_bars(iface):
    return [bar for item in iface.messageBar().items()
            for bar in item.findChildren(QProgressBar)]


# --- the dialog, driven ---------------------------------------------------------------------
def test_create_field_package_for_blocks_through_the_dialog(plugin, qgis_iface, shown,
                                                            monkeypatch):
    office = os.path.dirname(shown)
    seen = {}

    def exec_(dialog):
        assert dialog.windowTitle() == "Create field package — koumassi.sqlite"
        assert dialog.blocks.count() == 40  # B1A … B8E, 8 parcels each
        assert dialog.blocks.item(0).text() == "B1A (8)"
        assert not dialog.by_selection.isEnabled()  # no polygon layer is active
        assert dialog.privacy["include"].isChecked()  # the default
        dialog.accept()  # nothing filled in: refused, says why
        seen["empty"] = dialog.problem.text()
        dialog.team.setText("Equipe A")
        assert dialog.folder.filePath() == os.path.join(office, "package-equipe-a")
        dialog.accept()
        seen["no_blocks"] = dialog.problem.text()
        dialog.enumerators.setText(" moussa , aya,")
        dialog.device.setText("tablet-07")
        dialog.choose_blocks(["B2A", "B2B"])
        assert dialog.problem.isHidden()
        assert dialog.blocks_chosen.text().startswith("2 block(s) chosen, 16 parcels")
        dialog.margin.setValue(10)
        screenshot(dialog, "field_package_dialog.png")
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(FieldPackageDialog, "exec_", exec_)
    task = plugin.create_field_package()
    assert task is not None and plugin.package_task is task
    assert seen == {"empty": "Name the team the package is for.",
                    "no_blocks": "Choose at least one block, or take the features selected "
                                 "on the map."}
    assert len(progress_bars(qgis_iface)) == 1  # with its Cancel button, while it runs
    wait_until(lambda: plugin.package_task is None)
    assert progress_bars(qgis_iface) == []
    folder = os.path.join(office, "package-equipe-a")
    # (and SQLite's -wal and -shm while QGIS's provider still has the store open)
    assert {n for n in os.listdir(folder) if not n.endswith(("-wal", "-shm"))} == {
        MANIFEST, PACKAGE_STORE, PROJECT_FILE, "forms"}
    manifest = read_manifest(folder)
    assert (manifest.team, manifest.enumerators, manifest.device, manifest.margin_m) == (
        "Equipe A", ["moussa", "aya"], "tablet-07", 10.0)
    in_blocks = parcels_of(shown, "block IN ('B2A', 'B2B')")
    area = shapely.union_all(list(in_blocks.values()))
    near = parcels_of(shown, "1 = 1")
    expected = {i for i, shape in near.items() if shape.intersects(area.buffer(10))}
    packed = {r[0] for r in package_rows(folder, "SELECT id FROM spatial_unit "
                                                 "WHERE kind = 'parcel'")}
    assert packed == expected and set(in_blocks) < packed
    assert registered_packages(shown) == [(manifest.id, "Equipe A")]
    [done] = messages(qgis_iface, Qgis.Success)[-1:]
    assert folder in done and "Equipe A" in done and PROJECT_FILE in done
    assert f"{manifest.counts['spatial_unit']} parcels and structures" in done
    assert f"{manifest.counts['party']} parties" in done
    assert messages(qgis_iface, Qgis.Critical) == []
    assert plugin.package_key_box is None  # names were included: no key


def test_the_area_of_the_features_selected_on_the_map(plugin, qgis_iface, shown, tmp_path,
                                                      monkeypatch):
    """A polygon drawn on a layer in another CRS (WGS 84), selected: the area is taken in
    the store's CRS, and the package holds the parcels it touches."""
    store_crs = QgsCoordinateReferenceSystem("EPSG:32630")
    some = parcels_of(shown, "block = 'B5C'")
    drawn = shapely.box(*shapely.union_all(list(some.values())).bounds)
    geometry = QgsGeometry.fromWkt(drawn.wkt)
    geometry.transform(QgsCoordinateTransform(store_crs, QgsCoordinateReferenceSystem(
        "EPSG:4326"), QgsProject.instance()))
    layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "Zone of team B", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(geometry)
    other = QgsFeature(layer.fields())  # far away and not selected: not in the area
    other.setGeometry(QgsGeometry.fromWkt("POLYGON((-3.9 5.2, -3.8 5.2, -3.8 5.3, -3.9 5.2))"))
    layer.dataProvider().addFeatures([feature, other])
    QgsProject.instance().addMapLayer(layer)
    layer.selectByIds([next(layer.getFeatures()).id()])
    qgis_iface.setActiveLayer(layer)
    folder = str(tmp_path / "team-b")

    def exec_(dialog):
        assert dialog.by_selection.isEnabled()
        assert dialog.by_selection.text() == ("The 1 feature(s) selected on the layer Zone "
                                              "of team B")
        dialog.by_selection.setChecked(True)
        assert not dialog.blocks.isEnabled()
        dialog.team.setText("Equipe B")
        dialog.margin.setValue(0)
        dialog.folder.setFilePath(folder)
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(FieldPackageDialog, "exec_", exec_)
    assert plugin.create_field_package() is not None
    wait_until(lambda: plugin.package_task is None)
    manifest = read_manifest(folder)
    area = shapely.from_wkt(manifest.area_wkt)
    assert area.area == pytest.approx(drawn.area, rel=1e-3)  # back in metres, UTM 30N
    assert area.centroid.distance(drawn.centroid) < 0.5
    touched = {i for i, shape in parcels_of(shown, "1 = 1").items() if shape.intersects(area)}
    packed = {r[0] for r in package_rows(folder, "SELECT id FROM spatial_unit "
                                                 "WHERE kind = 'parcel'")}
    assert packed == touched and set(some) <= packed
    assert os.path.isfile(os.path.join(folder, PROJECT_FILE))


def test_a_pseudonymised_package_shows_its_key_once(plugin, qgis_iface, shown, tmp_path):
    folder = str(tmp_path / "team-c")
    task = plugin.start_field_package(folder, PackageRequest(
        team="Equipe C", blocks=["B1A"], personal_data="pseudonymise"))
    wait_until(lambda: plugin.package_task is None)
    assert task is not None
    box = plugin.package_key_box
    assert box is not None and box.isVisible()
    key = box.detailedText()
    assert len(bytes.fromhex(key)) == 32
    assert "Keep it somewhere safe" in box.text() and folder in box.text()
    screenshot(box, "field_package_key.png")
    every_message = [m for level in (Qgis.Info, Qgis.Success, Qgis.Warning, Qgis.Critical)
                     for m in qgis_iface.messageBar().get_messages(level)]
    assert all(key not in m for m in every_message)
    # the key is the one the names were pseudonymised with
    with SettlementStore.open(shown, read_only=True) as store:
        people = {r["id"]: r["last_name"] for r in store.db.query(
            "SELECT id, last_name FROM party WHERE party_type = 'person'")}
    packed = package_rows(folder, "SELECT id, last_name FROM party "
                                  "WHERE party_type = 'person'")
    assert packed
    pseudonyms = Pseudonymiser(bytes.fromhex(key))
    assert all(name == pseudonyms.pseudonym("last_name", people[i]) for i, name in packed)
    assert all(name != people[i] for i, name in packed)


# --- refusals, cancel, permission --------------------------------------------------------------
def test_refusals_reach_the_message_bar_and_leave_nothing(plugin, qgis_iface, shown, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("someone's files")
    plugin.start_field_package(str(used), PackageRequest(team="Equipe A", blocks=["B1A"]))
    wait_until(lambda: plugin.package_task is None)
    plugin.start_field_package(str(tmp_path / "new"), PackageRequest(team="Equipe A",
                                                                     blocks=["Z9"]))
    wait_until(lambda: plugin.package_task is None)
    first, second = messages(qgis_iface, Qgis.Critical)[-2:]
    assert first.startswith("The field package for Equipe A was not cut: ")
    assert str(used) in first and "already exists and is not empty" in first
    assert "No parcels in the blocks Z9." in second
    assert os.listdir(used) == ["notes.txt"]
    assert not (tmp_path / "new").exists()
    assert registered_packages(shown) == []
    assert messages(qgis_iface, Qgis.Success)[-1:] != [] and all(
        "Field package" not in m for m in messages(qgis_iface, Qgis.Success))


def test_cancel_leaves_no_folder_and_no_register_entry(plugin, qgis_iface, shown, tmp_path,
                                                       monkeypatch):
    opening, cancelled = threading.Event(), threading.Event()
    real_open = SettlementStore.open

    def held_open(path, *args, **kwargs):  # holds the worker until Cancel was pressed
        opening.set()
        assert cancelled.wait(30)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(SettlementStore, "open", held_open)
    folder = tmp_path / "cancelled"
    task = plugin.start_field_package(str(folder), PackageRequest(team="Equipe D",
                                                                  blocks=["B3A"]))
    wait_until(opening.is_set)
    [bar] = progress_bars(qgis_iface)
    [cancel] = [b for b in bar.parent().findChildren(QPushButton) if b.text() == "Cancel"]
    cancel.click()  # the message bar's own button
    assert task.isCanceled()
    cancelled.set()
    wait_until(lambda: plugin.package_task is None)
    monkeypatch.undo()
    assert not folder.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("cancelled")]
    assert registered_packages(shown) == []
    assert any("Cutting the field package for Equipe D was cancelled" in m
               for m in messages(qgis_iface, Qgis.Warning))
    assert progress_bars(qgis_iface) == []


def test_a_store_with_users_needs_a_supervisor_signed_in(plugin, qgis_iface, demo, tmp_path):
    with SettlementStore.open(demo, actor="setup") as store:
        store.users.create("admin", "Adèle Admin", "administrator", password="admin-pass")
        sign_in(store, "admin", "admin-pass")
        store.users.create("awa", "Awa Koné", "supervisor", password="sup-pass")
        store.users.create("yao", "Yao Kouassi", "enumerator", password="enum-pass")
    assert plugin.show_store(demo)
    folder = tmp_path / "p"
    plugin.start_field_package(str(folder), PackageRequest(team="A", blocks=["B1A"]))
    wait_until(lambda: plugin.package_task is None)
    [refused] = messages(qgis_iface, Qgis.Critical)[-1:]
    assert "Sign in to cut field package" in refused
    assert plugin.sign_in_as("yao", "enum-pass") is not None
    plugin.start_field_package(str(folder), PackageRequest(team="A", blocks=["B1A"]))
    wait_until(lambda: plugin.package_task is None)
    [refused] = messages(qgis_iface, Qgis.Critical)[-1:]
    assert "Yao Kouassi (enumerator) may not cut field package" in refused
    assert not folder.exists() and registered_packages(demo) == []
    assert plugin.sign_in_as("awa", "sup-pass") is not None
    plugin.start_field_package(str(folder), PackageRequest(team="A", blocks=["B1A"]))
    wait_until(lambda: plugin.package_task is None)
    assert read_manifest(folder).made_by == "awa"


def test_the_merge_entry_opens_the_merge(plugin, monkeypatch):
    merge_actions = pytest.importorskip("stdm_plugin.gui.packages.merge_actions")
    calls = []
    monkeypatch.setattr(merge_actions, "merge_field_package", calls.append)
    [action] = [a for a in plugin.menu.actions() if a.text() == "Merge field package…"]
    action.trigger()
    assert calls == [plugin]


def test_the_map_selection_must_make_an_area(qgis_app):
    layer = QgsVectorLayer("Polygon?crs=EPSG:32630", "Zones", "memory")
    square = QgsFeature(layer.fields())
    square.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))"))
    layer.dataProvider().addFeatures([square])
    with pytest.raises(PackageSetupError, match="Select the polygons of the package area on "
                                                "the layer Zones first"):
        selected_area_wkt(layer, 32630)
    layer.selectAll()
    assert shapely.from_wkt(selected_area_wkt(layer, 32630)).area == pytest.approx(100)
    lines = QgsVectorLayer("LineString?crs=EPSG:32630", "Paths", "memory")
    with pytest.raises(PackageSetupError, match="The layer Paths has no polygons"):
        selected_area_wkt(lines, 32630)
    unknown = QgsVectorLayer("Polygon", "Sketch", "memory")
    unknown.setCrs(QgsCoordinateReferenceSystem())
    unknown.dataProvider().addFeatures([square])
    unknown.selectAll()
    with pytest.raises(PackageSetupError, match="no coordinate reference system"):
        selected_area_wkt(unknown, 32630)
