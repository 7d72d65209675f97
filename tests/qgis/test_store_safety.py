"""The plugin's consistency check, backup and restore, driven without their dialogs."""
import csv
import os
import sqlite3

from qgis.core import Qgis, QgsProject

from stdm_plugin.core.consistency import ORPHAN
from stdm_plugin.core.store import utc_now
from stdm_plugin.qgis.sources import source_of_layer


def messages(iface, level):
    return iface.messageBar().get_messages(level)


def shown_path():
    return source_of_layer(QgsProject.instance().mapLayersByName("Parcels")[0]).path


def test_check_of_a_consistent_store(plugin, qgis_iface, filled_store):
    assert plugin.show_store(filled_store.path)
    report = plugin.check_shown_store()
    assert report.ok
    assert any("No problems found in settlement.sqlite" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert messages(qgis_iface, Qgis.Warning) == []


def test_check_reports_problems_and_saves_them(plugin, qgis_iface, filled_store, tmp_path):
    assert plugin.show_store(filled_store.path)
    awa = filled_store.info["awa"]
    con = sqlite3.connect(filled_store.path)  # an edit made outside the plugin
    con.execute("UPDATE party SET end_lifespan_version = ? WHERE id = ?", (utc_now(), awa.id))
    con.commit()
    con.close()
    report = plugin.check_shown_store()
    assert [f.kind for f in report.findings] == [ORPHAN]
    warnings = messages(qgis_iface, Qgis.Warning)
    assert any("1 problem(s) found in settlement.sqlite" in m
               and "references to missing or retired records: 1" in m for m in warnings)
    path = str(tmp_path / "findings.csv")
    assert plugin.save_findings(report, path)
    with open(path, newline="", encoding="utf-8") as handle:
        assert [row["kind"] for row in csv.DictReader(handle)] == [ORPHAN]
    assert any("Saved 1 finding(s)" in m for m in messages(qgis_iface, Qgis.Success))


def test_commands_need_a_store_in_the_project(plugin, qgis_iface, tmp_path):
    assert plugin.check_shown_store() is None
    assert plugin.backup_store_to(str(tmp_path)) is None
    assert all("Show a settlement store" in m for m in messages(qgis_iface, Qgis.Critical))
    assert len(messages(qgis_iface, Qgis.Critical)) == 2
    assert os.listdir(tmp_path) == []


def test_back_up_then_restore_shows_the_restored_store(plugin, qgis_iface, filled_store,
                                                      tmp_path):
    assert plugin.show_store(filled_store.path)
    backups = tmp_path / "backups"
    backups.mkdir()
    written = plugin.backup_store_to(str(backups))
    assert written is not None and written.parent == backups
    assert any(str(written) in m for m in messages(qgis_iface, Qgis.Success))
    QgsProject.instance().clear()
    target = str(tmp_path / "restored.sqlite")
    assert plugin.restore_backup_to(str(written), target)
    assert shown_path() == target
    assert QgsProject.instance().mapLayersByName("Parcels")[0].featureCount() == 2
    assert any("Restored" in m and "restored.sqlite" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert messages(qgis_iface, Qgis.Critical) == []
    assert plugin.check_shown_store().ok


def test_a_damaged_backup_is_refused_with_a_message(plugin, qgis_iface, filled_store,
                                                    tmp_path):
    written = plugin.backup_store_to(str(tmp_path / "b.zip"), filled_store.path)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(written.read_bytes()[:1000])
    assert not plugin.restore_backup_to(str(cut), str(tmp_path / "restored.sqlite"))
    assert any("The backup was not restored" in m and "not a readable backup" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert not (tmp_path / "restored.sqlite").exists()
    assert QgsProject.instance().mapLayers() == {}


def test_backup_never_overwrites(plugin, qgis_iface, filled_store, tmp_path):
    existing = tmp_path / "b.zip"
    existing.write_bytes(b"an older backup")
    assert plugin.backup_store_to(str(existing), filled_store.path) is None
    assert any("already exists" in m for m in messages(qgis_iface, Qgis.Critical))
    assert existing.read_bytes() == b"an older backup"
