"""Check geometry, import cadastre or structures, export, split and merge, on a store shown
in the project (issue #6, the GUI side).

The tasks run through QGIS's task manager (a worker thread, its own store
connection), and the tests wait for them by processing events. Dialogs are
driven through their widgets, a modal one by replacing its exec_; the split
tool by mouse events on a canvas in another CRS than the store's. What the
core wrote is read back from the store.
"""
import os
import pathlib
import re
import sqlite3
import time

import fiona
import pytest
import shapely
import shapely.affinity
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapRendererSequentialJob,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsMapMouseEvent
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtGui import QColor, QImage, QPainter
from qgis.PyQt.QtWidgets import QDialog
from shapely.geometry import Polygon, box, mapping

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.core.cadastre.geometry_findings import GAP, INVALID, OVERLAP
from stdm_plugin.core.cadastre.parcel_lineage import lineage_of
from stdm_plugin.gui.cadastre.geometry_check_dock import FixDialog
from stdm_plugin.gui.cadastre.import_dialog import CadastreDialog
from stdm_plugin.gui.cadastre.parcel_tools import PlanDialog, SplitParcelTool
from stdm_plugin.gui.exchange.export_dialog import ExportDialog, ExportRequest
from stdm_plugin.qgis.cadastre.geometry_task import AREAS_LAYER, PROBLEMS_LAYER, SNAP, RepairRequest

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
X0, Y0 = 400_000.0, 590_000.0
# a bow-tie drawn by another tool, in the settlement's margin: 30 m² enclosed
BOW_TIE = Polygon([(X0 + 62, Y0 + 2), (X0 + 68, Y0 + 12), (X0 + 68, Y0 + 2), (X0 + 62, Y0 + 12)])
# a ring drawn over itself (7 x 5 m, beside the grid): make_valid would drop 17.9% of it
LOOP = shapely.affinity.translate(shapely.affinity.scale(Polygon([
    (0, 0), (10, 0), (10, 10), (0, 10), (0, 2), (12, 2), (12, 4), (-2, 4), (-2, 0.5)]),
    0.5, 0.5, origin=(0, 0)), X0 + 63, Y0 + 20)


def messages(iface, level):
    """The message bar's texts, without the "STDM:" title pytest-qgis puts before them."""
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def wait_until(done, seconds=60):
    deadline = time.monotonic() + seconds
    while not done():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the task did not finish"
        time.sleep(0.02)
    QgsApplication.processEvents()


def screenshot(widget, app, name):
    widget.show()
    app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def rendered_map(canvas, layers, width=640, height=560) -> QImage:
    settings = canvas.mapSettings()
    settings.setLayers(layers)
    settings.setOutputSize(canvas.size().scaled(width, height, Qt.KeepAspectRatio))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


@pytest.fixture
def site(tmp_path):
    """Settlement KOU: 3 x 2 parcels of 20 m (KOU-P00001.. column by column), Awa and Issa
    sharing the first, Issa tenant of the second."""
    store = SettlementStore.create(tmp_path / "settlement.sqlite", 32630, actor="tester")
    kou = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement",
                                           boundary=box(X0 - 10, Y0 - 10, X0 + 70, Y0 + 50)))
    parcels = store.spatial_units.add_many([
        SpatialUnit(kind="parcel", settlement_id=kou.id, land_use="residential",
                    boundary=box(X0 + 20 * i, Y0 + 20 * j, X0 + 20 * i + 20, Y0 + 20 * j + 20))
        for i in range(3) for j in range(2)])
    household = store.parties.add(Party(party_type="household", group_name="Famille Koné"))
    awa, issa = store.parties.add_many([
        Party(first_name="Awa", last_name="Koné", sex="female", household_role="head",
              group_party_id=household.id, phone="+225 07 12 34 56 78"),
        Party(first_name="Issa", last_name="Koné", sex="male", household_role="spouse",
              group_party_id=household.id)])
    store.tenure.add_many([
        SocialTenure(party_id=awa.id, spatial_unit_id=parcels[0].id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2),
        SocialTenure(party_id=issa.id, spatial_unit_id=parcels[0].id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2),
        SocialTenure(party_id=issa.id, spatial_unit_id=parcels[1].id, tenure_type="tenant")])
    store.info = {"kou": kou, "parcels": parcels}
    yield store
    store.close()


@pytest.fixture
def defects(site):
    """A bow-tie (raw SQL), an overlap of 8 m² and an enclosed gap of 10 m²."""
    parcels = site.info["parcels"]
    site.spatial_units.update(parcels[2].id, boundary=box(X0 + 20, Y0, X0 + 40, Y0 + 19.5))
    site.spatial_units.update(parcels[5].id, boundary=box(X0 + 39.6, Y0 + 20, X0 + 60, Y0 + 40))
    raw_parcel(site, "bowtie", 99, BOW_TIE)
    return site


def raw_parcel(store, record_id, seq, shape):
    """What the repository refuses, written as another tool would."""
    with store.transaction():
        store.db.execute(
            "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, boundary) "
            f"VALUES (?, 'parcel', ?, ?, ?, 'residential', "
            f"{store.db.geometry_param(store.srid, True)})",
            (record_id, store.info["kou"].id, seq, f"KOU-P{seq:05d}", shape.wkb))


def show_map(plugin, store, canvas, crs="EPSG:32630", extent=(X0 - 12, Y0 - 12, X0 + 72,
                                                              Y0 + 52)):
    assert plugin.show_store(store.path)
    canvas.resize(800, 600)
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
    to_canvas = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32630"),
                                       canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance())
    canvas.setExtent(to_canvas.transformBoundingBox(QgsRectangle(*extent)))
    canvas.refresh()
    return to_canvas


def click(canvas, point, button=Qt.LeftButton):
    pixel = canvas.getCoordinateTransform().transform(point)
    event = QgsMapMouseEvent(canvas, QEvent.MouseButtonRelease,
                             QPoint(round(pixel.x()), round(pixel.y())), button)
    canvas.mapTool().canvasReleaseEvent(event)


def store_layer(name):
    [layer] = QgsProject.instance().mapLayersByName(name)
    return layer


def run_check(plugin):
    task = plugin.check_geometry_of_store()
    assert task is not None
    wait_until(lambda: plugin.geometry_task is None)
    return plugin.geometry_dock


# --- check geometry -----------------------------------------------------------------------
def test_check_makes_the_layers_and_the_dock(plugin, qgis_iface, qgis_canvas, qgis_app,
                                             defects):
    show_map(plugin, defects, qgis_canvas)
    dock = run_check(plugin)
    kinds = [f.kind for f in dock.report.findings]
    assert sorted(kinds) == sorted([INVALID, OVERLAP, GAP])
    assert dock.settlement_id() == defects.info["kou"].id  # the only settlement
    assert any(m.startswith("3 problem(s) found in settlement KOU: 1 invalid geometry, "
                            "1 overlap, 1 gap") for m in messages(qgis_iface, Qgis.Warning))
    points, areas = store_layer(PROBLEMS_LAYER), store_layer(AREAS_LAYER)
    assert points.featureCount() == 3 and areas.featureCount() == 3
    assert sorted(f["kind"] for f in points.getFeatures()) == sorted(kinds)
    group = QgsProject.instance().layerTreeRoot().findGroup("Settlement store: "
                                                            "settlement.sqlite")
    assert group.children()[0].layer() is points  # on top of the store's layers
    table = [[dock.table.item(r, c).text() for c in range(4)]
             for r in range(dock.table.rowCount())]
    assert table[0][:3] == ["Invalid geometry", "KOU-P00099", ""]
    assert "Self-intersection" in table[0][3]
    overlap = kinds.index(OVERLAP)
    assert table[overlap][1] == "KOU-P00004, KOU-P00006" and table[overlap][2].startswith("8.0")
    assert table[kinds.index(GAP)][0] == "Gap"

    # a row clicked: the map goes there and the finding and its parcels are selected
    dock.select_row(overlap)
    finding = dock.report.findings[overlap]
    extent = qgis_canvas.extent()
    assert extent.contains(QgsRectangle(*finding.geometry.bounds))
    assert min(extent.width(), extent.height()) < 40  # zoomed in (the canvas sets the ratio)
    assert [f["finding"] for f in points.selectedFeatures()] == [overlap]
    assert sorted(f["code"] for f in store_layer("Parcels").selectedFeatures()) == [
        "KOU-P00004", "KOU-P00006"]
    assert dock.fix_button.isEnabled()

    # stepping, the filter
    dock.step(1)
    assert dock.current_row() == (overlap + 1) % 3
    dock.kind_filter.setCurrentIndex(dock.kind_filter.findData(GAP))
    assert dock.visible_rows() == [kinds.index(GAP)]
    dock.step(1)
    assert dock.current_finding().kind == GAP
    dock.kind_filter.setCurrentIndex(0)

    dock.select_row(kinds.index(INVALID))
    ARTIFACTS.mkdir(exist_ok=True)
    dock.resize(560, 560)
    qgis_app.processEvents()
    picture = dock.grab().toImage()
    qgis_canvas.setExtent(QgsRectangle(X0 - 12, Y0 - 12, X0 + 72, Y0 + 52))
    layers = [points, areas, store_layer("Parcels"), store_layer("Settlements")]
    drawn = rendered_map(qgis_canvas, layers, 640, picture.height())
    both = QImage(drawn.width() + picture.width(), picture.height(), QImage.Format_ARGB32)
    both.fill(QColor("white"))
    painter = QPainter(both)
    painter.drawImage(0, 0, drawn)
    painter.drawImage(drawn.width(), 0, picture)
    painter.end()
    assert both.save(str(ARTIFACTS / "geometry_check_dock.png"))


def test_fix_make_valid_through_the_dock(plugin, qgis_iface, qgis_canvas, defects,
                                         monkeypatch, qgis_app):
    show_map(plugin, defects, qgis_canvas)
    dock = run_check(plugin)
    row = [f.kind for f in dock.report.findings].index(INVALID)
    dock.select_row(row)
    seen = []

    def exec_(dialog):
        seen.append(dialog.change.text())
        screenshot(dialog, qgis_app, "geometry_fix_dialog.png")
        assert dialog.apply_button.isEnabled()
        return QDialog.Accepted

    monkeypatch.setattr(FixDialog, "exec_", exec_)
    assert dock.fix_current()
    assert "boundary made valid" in seen[0]
    assert re.search(r"Area 30\.0\d m² → 30\.0\d m²", seen[0])
    fixed = defects.spatial_units.get("bowtie")
    assert fixed.boundary.is_valid and fixed.boundary.geom_type == "MultiPolygon"
    history = defects.history("spatial_unit", "bowtie")
    assert len(history) == 2
    old = defects.db.scalar("SELECT AsBinary(?)", (bytes.fromhex(
        history[0]["values"]["boundary"]),))
    assert shapely.from_wkb(old).equals_exact(shapely.multipolygons([BOW_TIE]), 1e-6)
    assert any("boundary made valid" in m for m in messages(qgis_iface, Qgis.Success))
    wait_until(lambda: plugin.geometry_task is None)  # checked again
    assert sorted(f.kind for f in dock.report.findings) == sorted([OVERLAP, GAP])
    assert dock.current_row() >= 0  # the dock stays near where it was


def test_refusals_and_a_snap_through_the_dock(plugin, qgis_iface, qgis_canvas, defects,
                                             monkeypatch, qgis_app):
    raw_parcel(defects, "loop", 98, LOOP)
    show_map(plugin, defects, qgis_canvas)
    dock = run_check(plugin)
    loop = next(r for r, f in enumerate(dock.report.findings) if f.record_ids == ("loop",))
    dock.select_row(loop)
    shown = []

    def refused(dialog):
        shown.append((dialog.change.text(), dialog.apply_button.isEnabled()))
        return QDialog.Accepted  # OK pressed anyway: nothing to apply

    monkeypatch.setattr(FixDialog, "exec_", refused)
    assert not dock.fix_current()
    [(text, enabled)] = shown
    assert text.startswith("Refused: KOU-P00098: the valid boundary would lose 17.9%")
    assert not enabled
    assert not defects.spatial_units.get("loop").boundary.is_valid

    overlap = [f.kind for f in dock.report.findings].index(OVERLAP)
    dock.select_row(overlap)

    def snap(dialog):
        assert [dialog.record.itemText(i) for i in range(dialog.record.count())] == [
            "KOU-P00004", "KOU-P00006"]
        dialog.record.setCurrentIndex(1)
        dialog.tolerance.setValue(0.5)
        shown.append((dialog.change.text(), dialog.apply_button.isEnabled()))
        screenshot(dialog, qgis_app, "geometry_snap_dialog.png")
        return QDialog.Accepted

    monkeypatch.setattr(FixDialog, "exec_", snap)
    assert dock.fix_current()
    assert "KOU-P00006: snapped to" in shown[-1][0] and shown[-1][1]
    assert re.search(r"Area 408\.\d\d m² → 400\.\d\d m² \(-8\.\d\d m²", shown[-1][0])
    wait_until(lambda: plugin.geometry_task is None)
    assert OVERLAP not in [f.kind for f in dock.report.findings]

    stale = defects.info["parcels"][3]  # edited elsewhere between the preview and the repair
    with defects.transaction():
        defects.db.execute("UPDATE spatial_unit SET remarks = 'seen' WHERE id = ?",
                           (stale.id,))
    assert not plugin.apply_repair(RepairRequest(SNAP, stale.id, 0.5,
                                                 expected_version=stale.row_version))
    assert any("The repair was not made" in m for m in messages(qgis_iface, Qgis.Critical))


def test_check_without_a_store_and_a_clean_store(plugin, qgis_iface, qgis_canvas, site):
    assert plugin.check_geometry_of_store() is None
    assert any("Show a settlement store" in m for m in messages(qgis_iface, Qgis.Critical))
    show_map(plugin, site, qgis_canvas)
    dock = run_check(plugin)
    assert dock.report.ok and dock.table.rowCount() == 0
    assert not dock.fix_button.isEnabled() and not dock.next_button.isEnabled()
    assert any("No geometry problems found in settlement KOU (6 parcels and 0 structures "
               "checked)" in m for m in messages(qgis_iface, Qgis.Success))


# --- cadastre -----------------------------------------------------------------------------
SCHEMA = {"geometry": "Polygon", "properties": {"ref": "str:20"}}


def write_file(path, shapes, driver="GPKG", crs="EPSG:32630"):
    with fiona.open(path, "w", driver=driver, crs=crs, schema=SCHEMA,
                    **({"layer": "footprints"} if driver == "GPKG" else {})) as sink:
        for ref, shape in shapes:
            sink.write({"geometry": mapping(shape), "properties": {"ref": ref}})
    return str(path)


def driving(monkeypatch, fill):
    seen = []

    def exec_(dialog):
        seen.append(dialog)
        fill(dialog)
        return QDialog.Rejected
    monkeypatch.setattr(CadastreDialog, "exec_", exec_)
    return seen


def test_import_structures_shows_the_problems(plugin, qgis_iface, qgis_canvas, site, tmp_path,
                                              monkeypatch, qgis_app):
    show_map(plugin, site, qgis_canvas)
    path = write_file(tmp_path / "footprints.gpkg", [
        ("B1", box(X0 + 4, Y0 + 4, X0 + 12, Y0 + 12)),
        ("B2", box(X0 + 24, Y0 + 24, X0 + 30, Y0 + 32)),
        ("BAD", Polygon([(X0 + 44, Y0 + 4), (X0 + 50, Y0 + 12), (X0 + 50, Y0 + 4),
                         (X0 + 44, Y0 + 12)]))])
    outcome = {}

    def fill(dialog):
        dialog.file_widget.setFilePath(path)
        assert dialog.layer.currentText() == "footprints"
        assert "declares EPSG:32630" in dialog.crs_hint.text()
        outcome["nothing"] = dialog.run_now()  # all or nothing: the bow-tie stops it
        assert dialog.banner.text().startswith("3 feature(s) read; 0 imported")
        dialog.valid_only.setChecked(True)
        outcome["valid"] = dialog.run_now()
        outcome["rows"] = [[dialog.problem_table.item(r, c).text() for c in range(5)]
                           for r in range(dialog.problem_table.rowCount())]
        screenshot(dialog, qgis_app, "cadastre_import_dialog.png")
        outcome["csv"] = dialog.save_report(str(tmp_path / "report.csv"))

    driving(monkeypatch, fill)
    plugin.import_cadastre()
    assert not outcome["nothing"].written and outcome["nothing"].held_back == 2
    assert outcome["valid"].imported == 2 and outcome["valid"].linked_to_parcels == 2
    assert outcome["rows"][0][:4] == ["footprints.gpkg", "fid 3 (#2)", "", "error"]
    assert "self-intersection" in outcome["rows"][0][4].lower() \
        or "not valid" in outcome["rows"][0][4]
    assert len(site.spatial_units.find("kind = 'structure'")) == 2
    assert store_layer("Structures").featureCount() == 2  # refreshed
    assert any("No structure was imported" in m for m in messages(qgis_iface, Qgis.Critical))
    assert any("Imported 2 structure(s) from footprints.gpkg; 1 feature(s) rejected" in m
               for m in messages(qgis_iface, Qgis.Warning))
    assert os.path.exists(outcome["csv"][0])


def test_a_file_without_crs_needs_the_source_crs(plugin, qgis_canvas, site, tmp_path,
                                                monkeypatch):
    show_map(plugin, site, qgis_canvas)
    path = write_file(tmp_path / "nocrs.shp", [("B1", box(X0 + 4, Y0 + 4, X0 + 12, Y0 + 12))],
                      driver="ESRI Shapefile")
    os.remove(tmp_path / "nocrs.prj")
    outcome = {}

    def fill(dialog):
        dialog.file_widget.setFilePath(path)
        assert "declares no CRS" in dialog.crs_hint.text() and "Required" in \
            dialog.crs_hint.text()
        assert dialog.run_now() is None
        outcome["refused"] = dialog.problem.text()
        dialog.crs.setCrs(QgsCoordinateReferenceSystem("EPSG:32630"))
        outcome["report"] = dialog.run_now()

    driving(monkeypatch, fill)
    plugin.import_cadastre()
    assert "choose the source CRS" in outcome["refused"]
    assert outcome["report"].imported == 1


def test_reconcile_adds_a_layer_by_status(plugin, qgis_iface, qgis_canvas, site, tmp_path,
                                         monkeypatch, qgis_app):
    show_map(plugin, site, qgis_canvas)
    path = write_file(tmp_path / "cadastre.gpkg", [
        ("C1", box(X0, Y0, X0 + 20, Y0 + 20)),  # KOU-P00001 as it is
        ("C2", box(X0, Y0 + 20, X0 + 20, Y0 + 42)),  # KOU-P00002, 2 m more
        ("C9", box(X0 + 100, Y0, X0 + 120, Y0 + 20))])  # not enumerated
    outcome = {}

    def fill(dialog):
        dialog.file_widget.setFilePath(path)
        dialog.reconcile.setChecked(True)
        dialog.id_field.setCurrentIndex(dialog.id_field.findData("ref"))
        outcome["result"] = dialog.run_now()
        outcome["statuses"] = sorted({dialog.parcel_table.item(r, 1).text()
                                      for r in range(dialog.parcel_table.rowCount())})
        outcome["banner"] = dialog.banner.text()
        screenshot(dialog, qgis_app, "cadastre_reconcile_dialog.png")

    driving(monkeypatch, fill)
    plugin.import_cadastre()
    result = outcome["result"]
    assert {(p.side, p.parcel): p.status for p in result.parcels if p.side == "cadastral"} == {
        ("cadastral", "C1"): "matched", ("cadastral", "C2"): "changed_boundary",
        ("cadastral", "C9"): "missing"}
    assert outcome["statuses"] == ["changed boundary", "matched", "missing", "new"]
    assert "Enumerated parcels: 1 matched, 1 changed boundary, 4 new" in outcome["banner"]
    layer = store_layer("Reconciliation with cadastre.gpkg")
    assert layer.featureCount() == 9
    categories = {c.value(): c.label() for c in layer.renderer().categories()}
    assert categories["missing"] == "Missing (cadastre only)"
    assert any("Compared cadastre.gpkg" in m for m in messages(qgis_iface, Qgis.Success))
    assert len(site.spatial_units.find("kind = 'structure'")) == 0  # nothing written


# --- export -------------------------------------------------------------------------------
def test_export_dialog_and_task_leave_personal_data_out(plugin, qgis_iface, qgis_canvas, site,
                                                        tmp_path, monkeypatch, qgis_app):
    show_map(plugin, site, qgis_canvas)
    target = str(tmp_path / "out" / "koumassi.gpkg")

    def exec_(dialog):
        assert dialog.privacy["omit"].isChecked()  # the default
        assert dialog.crs.crs().authid() == "EPSG:32630"
        dialog.target.setFilePath(target)
        dialog.layer_boxes["certificates"].setChecked(False)
        screenshot(dialog, qgis_app, "export_dialog.png")
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(ExportDialog, "exec_", exec_)
    task = plugin.export_store_files()
    assert task is not None
    wait_until(lambda: plugin.export_task is None)
    assert os.path.exists(target)
    assert os.path.exists(tmp_path / "out" / "koumassi_dictionary.md")
    with fiona.open(target, layer="parties") as parties:
        assert "first_name" not in parties.schema["properties"]
        assert len(parties) == 3
    assert "certificates" not in fiona.listlayers(target)
    [done] = messages(qgis_iface, Qgis.Success)[-1:]
    assert "personal data: omit" in done and "koumassi_dictionary.md" in done
    assert "+225" not in done


def test_export_changes_and_refusals(plugin, qgis_iface, qgis_canvas, site, tmp_path):
    show_map(plugin, site, qgis_canvas)
    assert plugin.start_export(ExportRequest(target=str(tmp_path / "ch"), format="csv",
                                             since="2000-01-01")) is not None
    wait_until(lambda: plugin.export_task is None)
    assert any("6 new" in m for m in messages(qgis_iface, Qgis.Success))
    assert (tmp_path / "ch" / "parcel_changes.csv").exists()
    plugin.start_export(ExportRequest(target=str(tmp_path / "bad.gpkg"), crs="EPSG:999999"))
    wait_until(lambda: plugin.export_task is None)
    assert any("Nothing was exported" in m and "999999" in m
               for m in messages(qgis_iface, Qgis.Critical))
    plugin.start_export(ExportRequest(target=str(tmp_path / "p.gpkg"),
                                      personal_data="pseudonymise"))
    wait_until(lambda: plugin.export_task is None)
    assert len(plugin.export_key_box.detailedText()) == 64


# --- split and merge ----------------------------------------------------------------------
def answering(monkeypatch, choice, seen):
    def exec_(dialog):
        seen.append(dialog)
        if choice is None:
            return QDialog.Rejected
        dialog.buttons_by_choice[choice].setChecked(True)
        return QDialog.Accepted
    monkeypatch.setattr(PlanDialog, "exec_", exec_)


def test_split_with_the_mouse_copies_the_claims(plugin, qgis_iface, qgis_canvas, site,
                                                monkeypatch):
    to_canvas = show_map(plugin, site, qgis_canvas, crs="EPSG:4326")
    first = site.info["parcels"][0]
    seen = []
    answering(monkeypatch, "copy", seen)
    tool = plugin.split_parcel()
    assert isinstance(tool, SplitParcelTool) and qgis_canvas.mapTool() is tool
    click(qgis_canvas, to_canvas.transform(QgsPointXY(X0 + 5, Y0 + 5)))  # picks KOU-P00001
    assert tool.parcel_id == first.id
    for x, y in ((X0 + 10, Y0 - 3), (X0 + 10, Y0 + 23)):
        click(qgis_canvas, to_canvas.transform(QgsPointXY(x, y)))
    click(qgis_canvas, to_canvas.transform(QgsPointXY(X0 + 10, Y0 + 23)), Qt.RightButton)
    [dialog] = seen
    assert "KOU-P00001" in dialog.windowTitle()
    assert {"copy", "none"} == set(dialog.buttons_by_choice)
    assert qgis_canvas.mapTool() is not tool  # done: the tool is put away
    lineage = lineage_of(site, first.id)
    children = [link.child_id for link in lineage.descendants]
    assert len(children) == 2
    pieces = [site.spatial_units.get(c) for c in children]
    assert sum(p.area_m2 for p in pieces) == pytest.approx(400, rel=0.01)
    for piece in pieces:
        assert sorted(c.tenure_type for c in site.tenure.find(
            "spatial_unit_id = ?", (piece.id,))) == ["co_owner", "co_owner"]
    assert sorted(f["id"] for f in store_layer("Parcels").selectedFeatures()) == \
        sorted(children)
    assert store_layer("Parcels").featureCount() == 7
    assert any(m.startswith("Split KOU-P00001 into KOU-P00007") and "4 claim(s)" in m
               for m in messages(qgis_iface, Qgis.Success))


def test_split_refusals_keep_the_tool(plugin, qgis_iface, qgis_canvas, site, monkeypatch):
    show_map(plugin, site, qgis_canvas)
    first = site.info["parcels"][0]
    store_layer("Parcels").selectByExpression(f"\"id\" = '{first.id}'")
    tool = plugin.split_parcel()
    assert tool.parcel_id == first.id  # the one parcel selected
    assert plugin.split_along(first.id, shapely.LineString([(X0 + 5, Y0 + 5),
                                                            (X0 + 8, Y0 + 8)])) == []
    assert any("does not cross KOU-P00001" in m for m in messages(qgis_iface, Qgis.Critical))
    con = sqlite3.connect(site.path)  # a claim taken into adjudication meanwhile, as the
    where = "spatial_unit_id = ? AND tenure_type = 'co_owner'"  # plugin does: event first
    con.execute("INSERT INTO adjudication_event (social_tenure_id, from_state, to_state, "
                f"changed_by, role) SELECT id, 'enumerated', 'verified', 'sup', 'supervisor' "
                f"FROM social_tenure WHERE {where}", (first.id,))
    con.execute(f"UPDATE social_tenure SET adjudication_state = 'verified' WHERE {where}",
                (first.id,))
    con.commit()
    con.close()
    line = shapely.LineString([(X0 + 10, Y0 - 3), (X0 + 10, Y0 + 23)])
    assert plugin.split_along(first.id, line, tenure="copy") == []
    assert any("in adjudication and locked" in m for m in messages(qgis_iface, Qgis.Critical))
    assert qgis_canvas.mapTool() is tool  # draw again, or Esc
    tool.cancel()
    assert qgis_canvas.mapTool() is not tool


def test_merge_selected_parcels(plugin, qgis_iface, qgis_canvas, site, monkeypatch):
    show_map(plugin, site, qgis_canvas)
    parcels = site.info["parcels"]
    layer = store_layer("Parcels")
    seen = []
    answering(monkeypatch, "carry", seen)
    layer.selectByExpression(f"\"id\" IN ('{parcels[1].id}', '{parcels[3].id}')")
    assert plugin.merge_selected_parcels()
    [dialog] = seen
    assert dialog.buttons_by_choice["carry"].isEnabled()
    merged = lineage_of(site, parcels[1].id).descendants[0].child_id
    assert sorted(link.parent_id for link in lineage_of(site, merged).ancestors) == sorted(
        [parcels[1].id, parcels[3].id])
    assert [c.tenure_type for c in site.tenure.find("spatial_unit_id = ?", (merged,))] == \
        ["tenant"]
    assert [f["id"] for f in layer.selectedFeatures()] == [merged]
    assert any(re.match(r"Merged KOU-P00002, KOU-P00004 into KOU-P00007 \(800\.\d\d m²\); 1 "
                        r"claim\(s\) carried", m) for m in messages(qgis_iface, Qgis.Success))


def test_merge_refusals(plugin, qgis_iface, qgis_canvas, site, monkeypatch):
    show_map(plugin, site, qgis_canvas)
    parcels = site.info["parcels"]
    layer = store_layer("Parcels")
    layer.selectByExpression(f"\"id\" = '{parcels[0].id}'")
    assert not plugin.merge_selected_parcels()
    assert any("Select two or more" in m for m in messages(qgis_iface, Qgis.Critical))
    assert not plugin.merge_parcels([parcels[0].id, parcels[5].id], tenure="none")
    assert any("do not make one polygon" in m for m in messages(qgis_iface, Qgis.Critical))
    seen = []
    answering(monkeypatch, None, seen)  # shares over 1: carrying is refused, Cancel
    assert not plugin.merge_parcels([parcels[0].id, parcels[1].id])
    assert not seen[0].buttons_by_choice["carry"].isEnabled()
    assert any("more than 1" in m for m in messages(qgis_iface, Qgis.Warning))
    assert not plugin.merge_parcels([parcels[0].id, parcels[1].id], tenure="carry")
    assert any("were not merged" in m and "more than 1" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert len(site.spatial_units.find("kind = 'parcel'")) == 6



def test_unload_puts_the_tools_away(plugin, qgis_canvas, defects):
    show_map(plugin, defects, qgis_canvas)
    dock = plugin.open_geometry_dock()
    task = plugin.start_geometry_check()
    tool = plugin.split_parcel()
    assert qgis_canvas.mapTool() is tool
    plugin.unload()
    assert plugin.geometry_dock is None and not dock.isVisible()
    assert qgis_canvas.mapTool() is not tool
    wait_until(lambda: plugin.geometry_task is None or task.status() in (
        task.Complete, task.Terminated))
