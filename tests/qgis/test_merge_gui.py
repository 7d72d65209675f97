"""Merge field package: a package returned from the field, compared, decided, merged.

The store is the demo settlement; a package is cut for block B1A and then
edited the way QField edits it, with plain sqlite3 and mod_spatialite on the
package's field_store.sqlite (merge_samples.py). The comparison and the merge run as QgsTasks
through QGIS's task manager; the tests wait for them by processing events
(never ``waitForFinished``: finished() must run on the main thread). The
dialogs are used while shown, by their widgets; what the core wrote is read
back from the store.
"""
from __future__ import annotations

import csv
import json
import sqlite3
import time
import uuid

import pytest
from qgis.core import Qgis, QgsApplication, QgsFeatureRequest, QgsProject
from qgis.PyQt.QtCore import QEvent, Qt
from shapely.geometry import box

from stdm_plugin.core import SpatialUnit
from stdm_plugin.core.packages.merge_plan import EDITED_BOTH
from stdm_plugin.core.store.users import sign_in, sign_out
from stdm_plugin.gui.packages import merge_actions
from stdm_plugin.gui.packages.package_pick_dialog import PackagePickDialog
from stdm_plugin.qgis.packages.merge_task import ApplyMergeTask, MergeTarget
from stdm_plugin.qgis.store.sources import SpatiaLiteSource
from tests.qgis.merge_samples import (
    LONG_NAME,
    OFFICE_NAME,
    ROOT,
    cut,
    demo_store,
    field_database,
    returned_package,
)

ARTIFACTS = ROOT / "test-artifacts"


def messages(iface, level):
    """The message bar's texts, without the "STDM:" title pytest-qgis puts before them."""
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def screenshot(widget, name):
    widget.show()
    QgsApplication.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def wait_until(done, seconds=60):
    deadline = time.monotonic() + seconds
    while not done():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the task did not finish"
        time.sleep(0.01)
    QgsApplication.processEvents()


@pytest.fixture
def returned(tmp_path):
    """The demo store, a package of block B1A edited in the field (a person renamed, an
    enumerated claim deleted), and the same person renamed differently at the office."""
    store = demo_store(tmp_path / "koumassi.sqlite")
    store.info = returned_package(store, tmp_path / "equipe_a")
    yield store
    store.close()


def merged_count(store) -> int:
    return store.db.scalar("SELECT count(*) FROM package_merge")


def compare(plugin, folder):
    flow = merge_actions.start_merge(plugin, folder)
    assert flow is not None
    wait_until(lambda: flow.task is None)
    return flow


def merge(flow):
    dialog = flow.dialog
    assert dialog.merge_button.isEnabled()
    dialog.merge_button.click()
    assert flow.task is not None and dialog.is_merging()
    wait_until(lambda: flow.task is None)
    return flow.report_dialog


# --- the whole way ---------------------------------------------------------------------------
def test_conflict_shown_both_ways_kept_theirs_merged_and_reported(plugin, qgis_iface, returned,
                                                                  tmp_path):
    store, info = returned, returned.info
    assert plugin.show_store(store.path)
    flow = compare(plugin, info["folder"])
    dialog = flow.dialog
    assert dialog is not None and dialog.isVisible()
    # the summary: the deleted claim, by table and by enumerator
    assert [[dialog.by_table.item(0, c).text() for c in range(4)]] == [
        ["Tenure claims", "0", "0", "1"]]
    assert [dialog.by_enumerator.item(0, c).text() for c in range(5)] == [
        "moussa", "Tenure claims", "0", "0", "1"]
    # the conflict, and nothing merged before every conflict has a choice
    label = f"{LONG_NAME} {info['last_name']}"
    assert dialog.conflict_rows() == [["changed in the store and in the package", label,
                                       "the team changed First name", "moussa", "Choose…"]]
    assert not dialog.merge_button.isEnabled()
    assert "1 conflict(s) still need a choice" in dialog.status.text()
    combo = dialog.combos[0]
    tips = {combo.itemData(i): combo.itemData(i, Qt.ToolTipRole) for i in range(combo.count())}
    assert "Take the team's version of First name" in tips["theirs"]
    assert "Keep the store's version" in tips["mine"]
    assert "add the team's version as a new record" in tips["both"]
    # both versions side by side, the changed field highlighted, who changed it last below
    assert dialog.selected_conflict().kind == EDITED_BOTH
    rows = {field: (mine, theirs, lit) for field, mine, theirs, lit in dialog.version_rows()}
    assert rows["First name"] == (OFFICE_NAME, LONG_NAME, True)
    assert rows["Last name"] == (info["last_name"], info["last_name"], False)
    assert rows["Updated by"][0] == "office" and rows["Updated by"][1] == "moussa"
    assert not any(lit for field, (_m, _t, lit) in rows.items() if field != "First name")
    screenshot(dialog, "merge_conflict_dialog.png")

    dialog.choose(0, "theirs")
    assert dialog.resolutions() == {dialog.plan.conflicts[0].key: "theirs"}
    assert dialog.status.text() == ""
    report_dialog = merge(flow)
    assert report_dialog is not None and report_dialog.isVisible()
    assert flow.dialog is None and getattr(plugin, "merge_flow", None) is None

    # the store holds the package's value, the claim is retired, the history keeps both
    assert store.parties.get(info["person"]).first_name == LONG_NAME
    claim = store.db.query_one("SELECT end_lifespan_version FROM social_tenure WHERE id = ?",
                               (info["claim"],))
    assert claim["end_lifespan_version"] is not None
    kept = store.db.query_one("SELECT resolution, store_values FROM merge_conflict")
    assert kept["resolution"] == "theirs"
    assert json.loads(kept["store_values"])["first_name"] == OFFICE_NAME
    success = messages(qgis_iface, Qgis.Success)
    assert any("Merged the field package equipe_a (Equipe A) into koumassi.sqlite: 0 added, "
               "1 changed, 1 deleted; 1 conflict(s) resolved, 0 code(s) renumbered." in m
               for m in success)
    # the layers show it
    parties = QgsProject.instance().mapLayersByName("Parties")[0]
    feature = next(parties.getFeatures(QgsFeatureRequest().setFilterExpression(
        f"\"id\" = '{info['person']}'")))
    assert feature["first_name"] == LONG_NAME

    # the report: counts, the conflict and its resolution; saved as CSV
    assert report_dialog.resolved_rows() == [["changed in the store and in the package", label,
                                              "the team changed First name", "moussa",
                                              "Keep theirs"]]
    assert {report_dialog.by_table.item(r, 0).text(): report_dialog.by_table.item(r, 2).text()
            for r in range(report_dialog.by_table.rowCount())} == {
        "Parties": "1", "Tenure claims": "0"}
    screenshot(report_dialog, "merge_report_dialog.png")
    path = tmp_path / "merge-report.csv"
    assert report_dialog.save_csv(str(path))
    assert "Saved the report to" in report_dialog.status.text()
    with open(path, newline="", encoding="utf-8-sig") as handle:
        saved = list(csv.DictReader(handle))
    conflicts = [r for r in saved if r["section"] == "conflict"]
    assert conflicts == [{"section": "conflict", "table": "party", "action": "theirs",
                          "enumerator": "moussa", "count": "1", "record": label,
                          "detail": "changed in the store and in the package"}]
    assert {(r["section"], r["table"], r["action"], r["enumerator"]) for r in saved
            if r["section"] != "conflict"} == {
        ("change", "party", "changed", ""), ("change", "social_tenure", "deleted", ""),
        ("by enumerator", "party", "changed", "moussa"),
        ("by enumerator", "social_tenure", "deleted", "moussa")}
    report_dialog.close()


def test_a_policy_resolves_the_rest_and_a_second_merge_changes_nothing(plugin, qgis_iface,
                                                                       returned):
    store, info = returned, returned.info
    assert plugin.show_store(store.path)
    dialog = compare(plugin, info["folder"]).dialog
    assert not dialog.merge_button.isEnabled()
    dialog.set_policy("mine")
    assert dialog.merge_button.isEnabled() and dialog.resolutions() == {}
    dialog.set_policy("ask")
    assert not dialog.merge_button.isEnabled()
    dialog.set_policy("mine")
    report_dialog = merge(plugin.merge_flow)
    assert report_dialog.resolved_rows()[0][-1] == "Keep mine"
    assert store.parties.get(info["person"]).first_name == OFFICE_NAME
    report_dialog.close()
    audit = store.db.scalar("SELECT max(id) FROM audit_log")

    flow = compare(plugin, info["folder"])  # the same package again: nothing new
    assert flow.dialog is None and getattr(plugin, "merge_flow", None) is None
    assert any("brings nothing new to koumassi.sqlite: it was merged 1 time(s) already" in m
               for m in messages(qgis_iface, Qgis.Info))
    assert store.db.scalar("SELECT max(id) FROM audit_log") == audit
    assert merged_count(store) == 1


def test_a_package_of_another_store_is_refused_with_nothing_written(plugin, qgis_iface,
                                                                    returned, tmp_path):
    other = demo_store(tmp_path / "other.sqlite")
    try:
        folder = cut(other, tmp_path / "foreign")
    finally:
        other.close()
    store = returned
    assert plugin.show_store(store.path)
    before = store.db.scalar("SELECT max(id) FROM audit_log")
    flow = compare(plugin, folder)
    assert flow.dialog is None and flow.report_dialog is None
    errors = messages(qgis_iface, Qgis.Critical)
    assert any("Field package foreign: The package" in m and "was cut from another store" in m
               and "nothing was merged" in m for m in errors), errors
    assert store.db.scalar("SELECT max(id) FROM audit_log") == before
    assert merged_count(store) == 0
    assert getattr(plugin, "merge_flow", None) is None  # another merge may start


def test_overlapping_new_parcels_show_areas_and_renumbered_codes(plugin, qgis_iface, returned):
    """The team and the office both drew a new parcel on the same spot, with the same next
    code: the geometry reads as area and vertices, and Keep both renumbers the team's."""
    store, info = returned, returned.info
    settlement = store.settlements.by_code("KOU")
    office = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=settlement.id, land_use="residential",
        boundary=box(394990, 584890, 395010, 584910)))
    con = field_database(info["folder"])
    con.execute("INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, block, "
                "boundary, created_by, updated_by) VALUES (?, 'parcel', ?, ?, ?, 'residential', "
                "'B1A', CastToMulti(GeomFromText(?, 32630)), 'moussa', 'moussa')",
                (str(uuid.uuid4()), settlement.id, office.seq, office.code,
                 box(395000, 584895, 395018, 584915).wkt))
    con.commit()
    con.close()
    assert plugin.show_store(store.path)
    dialog = compare(plugin, info["folder"]).dialog
    kinds = [row[0] for row in dialog.conflict_rows()]
    row = kinds.index("new parcel overlaps a parcel another team or the office added")
    assert dialog.conflict_rows()[row][2].startswith("overlaps KOU-P00321 by 150.")  # m² on
    # the ellipsoid: 150 m² in UTM is a little more
    dialog.conflicts.selectRow(row)
    versions = {field: (mine, theirs) for field, mine, theirs, _lit in dialog.version_rows()}
    mine, theirs = versions["Boundary"]
    assert mine.startswith("MultiPolygon, 400.") and mine.endswith("m², 5 vertices")
    assert theirs.startswith("MultiPolygon, 360.") and theirs.endswith("m², 5 vertices")
    assert versions["Code"] == ("KOU-P00321", "KOU-P00321")
    combo = dialog.combos[row]
    both = combo.itemData(combo.findData("both"), Qt.ToolTipRole)
    assert "keep KOU-P00321: both stay, overlapping" in both
    screenshot(dialog, "merge_overlap_dialog.png")
    dialog.choose(row, "both")
    dialog.set_policy("theirs")
    report_dialog = merge(plugin.merge_flow)
    renumbered = report_dialog.renumbered_table
    assert [(renumbered.item(r, 0).text(), renumbered.item(r, 1).text())
            for r in range(renumbered.rowCount())] == [("KOU-P00321", "KOU-P00322")]
    screenshot(report_dialog, "merge_report_renumbered.png")
    assert store.db.scalar("SELECT count(*) FROM spatial_unit WHERE code IN ('KOU-P00321', "
                           "'KOU-P00322') AND end_lifespan_version IS NULL") == 2
    report_dialog.close()


def test_a_store_changed_after_the_comparison_is_refused_in_the_dialog(plugin, qgis_iface,
                                                                       returned):
    store, info = returned, returned.info
    assert plugin.show_store(store.path)
    flow = compare(plugin, info["folder"])
    dialog = flow.dialog
    dialog.set_policy("theirs")
    kofi = store.db.scalar("SELECT id FROM party WHERE party_type = 'person' AND id <> ? "
                           "LIMIT 1", (info["person"],))
    store.parties.update(kofi, remarks="seen at the office meanwhile")
    dialog.merge_button.click()
    wait_until(lambda: flow.task is None)
    message = dialog.status.text()
    assert "The store changed since" in message and "nothing was merged" in message
    assert any("The store changed since" in m for m in messages(qgis_iface, Qgis.Critical))
    assert flow.dialog is dialog and dialog.isVisible() and not dialog.is_merging()
    assert not dialog.merge_button.isEnabled()  # the comparison no longer holds
    assert flow.report_dialog is None and merged_count(store) == 0
    screenshot(dialog, "merge_refused_stale.png")
    dialog.reject()


# --- who may merge ---------------------------------------------------------------------------
def test_only_a_supervisor_or_land_officer_merges(plugin, qgis_iface, returned):
    store = returned
    store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
    sign_in(store, "admin", "s3cret")
    store.users.create("enum", "Eric Enumerator", "enumerator", password="e")
    store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup")
    sign_out(store)
    assert plugin.show_store(store.path)
    assert plugin.sign_in_as("enum", "e") is not None
    assert merge_actions.start_merge(plugin, store.info["folder"]) is None
    assert any("Not allowed: Eric Enumerator (enumerator) may not merge field package" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert plugin.sign_in_as("sup", "sup") is not None
    flow = compare(plugin, store.info["folder"])
    flow.dialog.set_policy("theirs")
    merge(flow).close()
    assert store.db.scalar("SELECT merged_by FROM package_merge") == "sup"


# --- choosing the package ----------------------------------------------------------------------
def test_the_package_chooser_shows_the_manifest(returned, qgis_app, tmp_path):
    dialog = PackagePickDialog("koumassi.sqlite")
    assert not dialog.ok_button.isEnabled()
    dialog.folder.setText(str(tmp_path))
    assert not dialog.ok_button.isEnabled() and not dialog.problem.isHidden()
    assert "is not a field package: it has no package.json" in dialog.problem.text()
    dialog.folder.setText(returned.info["folder"])
    assert dialog.ok_button.isEnabled() and dialog.problem.isHidden()
    facts = dialog.fact_texts
    assert facts["Team"] == "Equipe A" and facts["Enumerators"] == "moussa"
    assert facts["Device"] == "Tablet 3" and facts["Made by"] == "office"
    assert facts["Made on"].endswith(" UTC") and facts["Made on"][:2] == "20"
    assert facts["Records"].splitlines()[:2] == ["Parties: 123", "Parcels and structures: 32"]
    screenshot(dialog, "merge_package_chooser.png")
    dialog.close()


def test_the_menu_entry_asks_for_the_folder_then_compares(plugin, returned, monkeypatch):
    store = returned
    assert plugin.show_store(store.path)
    seen = []

    def exec_(dialog):
        seen.append(dialog.windowTitle())
        dialog.folder.setText(store.info["folder"])
        return PackagePickDialog.Accepted
    monkeypatch.setattr(PackagePickDialog, "exec_", exec_)
    flow = merge_actions.merge_field_package(plugin)
    assert seen == ["Merge field package into koumassi.sqlite"]
    assert merge_actions.merge_field_package(plugin) is flow  # one merge at a time
    wait_until(lambda: flow.task is None)
    assert flow.dialog is not None
    flow.dialog.reject()  # closed without merging: the flow ends, nothing written
    QgsApplication.processEvents()
    assert getattr(plugin, "merge_flow", None) is None and merged_count(store) == 0


def test_unloading_the_plugin_closes_the_merge(plugin, returned):
    store = returned
    assert plugin.show_store(store.path)
    flow = compare(plugin, store.info["folder"])
    dialog = flow.dialog
    assert dialog.isVisible()
    merge_actions.close_merge(plugin)
    assert not dialog.isVisible() and flow.dialog is None and not flow.busy
    assert getattr(plugin, "merge_flow", None) is None and merged_count(store) == 0
    again = compare(plugin, store.info["folder"])  # the menu's own deletion does it too
    plugin.unload()
    QgsApplication.processEvents()
    QgsApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # the menu's deleteLater
    assert again.dialog is None and not again.busy


# --- the task ------------------------------------------------------------------------------------
def test_a_merge_cancelled_while_it_runs_writes_nothing(returned, qgis_app):
    """Cancel pressed while the merge waits for the store (another writer holds it): the
    merge's transaction is rolled back, and the outcome says it was cancelled."""
    store, info = returned, returned.info
    from stdm_plugin.core.packages.merge import analyse_merge

    plan = analyse_merge(store, info["folder"])
    audit = store.db.scalar("SELECT max(id) FROM audit_log")
    outcomes = []
    target = MergeTarget(SpatiaLiteSource(store.path), "koumassi.sqlite", None, "office")
    task = ApplyMergeTask(target, plan, {}, "theirs", outcomes.append)
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another writer: the merge waits for it
    try:
        QgsApplication.taskManager().addTask(task)
        wait_until(lambda: task.status() == task.Running)
        time.sleep(0.2)
        task.cancel()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    wait_until(lambda: outcomes)
    assert outcomes[0].cancelled and outcomes[0].report is None, outcomes[0].error
    assert merged_count(store) == 0
    assert store.db.scalar("SELECT max(id) FROM audit_log") == audit
    assert store.parties.get(info["person"]).first_name == OFFICE_NAME
