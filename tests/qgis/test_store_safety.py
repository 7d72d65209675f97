"""The plugin's consistency check, backup and restore, driven without their dialogs.

The menu actions run as QgsTasks through QGIS's task manager; tests wait for
them by processing events (never ``waitForFinished``: finished() must run on
the main thread). The inline methods for scripts are tested too.
"""
import csv
import json
import os
import sqlite3
import threading
import time
import zipfile

import pytest
from qgis.core import Qgis, QgsApplication, QgsProject

from stdm_plugin.core.safety.backup import Acceptance
from stdm_plugin.core.safety.backup_trust import MAC_ENTRY
from stdm_plugin.core.safety.consistency import ORPHAN
from stdm_plugin.core.settlement_store import SettlementStore
from stdm_plugin.core.store.store import utc_now
from stdm_plugin.gui.safety import actions as store_safety
from stdm_plugin.gui.safety import backup_trust_dialogs as trust_dialogs
from stdm_plugin.gui.safety import key_actions
from stdm_plugin.qgis.safety import tasks as safety_tasks
from stdm_plugin.qgis.safety.tasks import BackupTask, ConsistencyCheckTask, RestoreTask
from stdm_plugin.qgis.store.sources import source_of_layer


def messages(iface, level):
    return iface.messageBar().get_messages(level)


def shown_path():
    return source_of_layer(QgsProject.instance().mapLayersByName("Parcels")[0]).path


def wait_for(plugin, task, seconds=60):
    """Until the task manager has run ``task`` and the plugin has its outcome."""
    assert task is not None and plugin.safety_task is task
    deadline = time.monotonic() + seconds
    while plugin.safety_task is not None:
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the task did not finish"
        time.sleep(0.01)
    QgsApplication.processEvents()


def spoil_party_link(store):
    """An edit made outside the plugin: a claim now names a retired party."""
    con = sqlite3.connect(store.path)
    con.execute("UPDATE party SET end_lifespan_version = ? WHERE id = ?",
                (utc_now(), store.info["awa"].id))
    con.commit()
    con.close()


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


# --- the same work through the tasks the menu actions start ----------------------------
def test_check_task_reports_problems_and_hands_the_report_on(plugin, qgis_iface,
                                                              filled_store):
    assert plugin.show_store(filled_store.path)
    spoil_party_link(filled_store)
    handed = []
    task = plugin.start_check(then=handed.append)
    assert isinstance(task, ConsistencyCheckTask)
    wait_for(plugin, task)
    assert [f.kind for f in handed[0].findings] == [ORPHAN]
    assert any("1 problem(s) found in settlement.sqlite" in m
               and "references to missing or retired records: 1" in m
               for m in messages(qgis_iface, Qgis.Warning))
    assert messages(qgis_iface, Qgis.Critical) == []


def test_check_menu_action_offers_the_csv(plugin, qgis_iface, filled_store, tmp_path,
                                          monkeypatch):
    assert plugin.show_store(filled_store.path)
    spoil_party_link(filled_store)
    path = str(tmp_path / "findings.csv")
    monkeypatch.setattr(store_safety.QMessageBox, "question",
                        lambda *args: store_safety.QMessageBox.Yes)
    monkeypatch.setattr(store_safety.QFileDialog, "getSaveFileName",
                        lambda *args: (path, ""))
    plugin.check_consistency()
    wait_for(plugin, plugin.safety_task)
    with open(path, newline="", encoding="utf-8") as handle:
        assert [row["kind"] for row in csv.DictReader(handle)] == [ORPHAN]
    assert any("Saved 1 finding(s)" in m for m in messages(qgis_iface, Qgis.Success))


def test_backup_and_restore_tasks_show_the_restored_store(plugin, qgis_iface, filled_store,
                                                          tmp_path):
    assert plugin.show_store(filled_store.path)
    backups = tmp_path / "backups"
    backups.mkdir()
    task = plugin.start_backup(str(backups))
    assert isinstance(task, BackupTask)
    wait_for(plugin, task)
    [written] = list(backups.iterdir())
    assert written.suffix == ".zip"
    assert any(f"Backed up the settlement store to {written}" in m
               for m in messages(qgis_iface, Qgis.Success))
    QgsProject.instance().clear()
    target = str(tmp_path / "restored.sqlite")
    task = plugin.start_restore(str(written), target)
    assert isinstance(task, RestoreTask)
    wait_for(plugin, task)
    assert shown_path() == target
    assert QgsProject.instance().mapLayersByName("Parcels")[0].featureCount() == 2
    assert any(f"Restored {target} from {written}" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert messages(qgis_iface, Qgis.Critical) == []
    task = plugin.start_check()
    wait_for(plugin, task)
    assert any("No problems found in restored.sqlite." in m
               for m in messages(qgis_iface, Qgis.Success))


def test_backup_menu_action_runs_the_task(plugin, qgis_iface, filled_store, tmp_path,
                                          monkeypatch):
    assert plugin.show_store(filled_store.path)
    target = tmp_path / "menu.zip"
    monkeypatch.setattr(store_safety.QFileDialog, "getSaveFileName",
                        lambda *args: (str(target), ""))
    plugin.back_up_store()
    wait_for(plugin, plugin.safety_task)
    assert target.is_file()
    assert any(str(target) in m for m in messages(qgis_iface, Qgis.Success))


def test_backup_cancelled_before_it_writes_leaves_no_zip(plugin, qgis_iface, filled_store,
                                                         tmp_path, monkeypatch):
    opening, cancelled = threading.Event(), threading.Event()
    real_open = SettlementStore.open

    def slow_open(path, *args, **kwargs):  # holds the worker until Cancel was pressed
        opening.set()
        assert cancelled.wait(30)
        return real_open(path, *args, **kwargs)

    written = []
    monkeypatch.setattr(SettlementStore, "open", slow_open)
    monkeypatch.setattr(safety_tasks, "backup_store",
                        lambda *args, **options: written.append(args))
    task = plugin.start_backup(str(tmp_path / "b.zip"), filled_store.path)
    deadline = time.monotonic() + 30
    while not opening.is_set():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline
    task.cancel()
    cancelled.set()
    wait_for(plugin, task)
    assert written == []
    assert all(p.name.startswith("settlement.sqlite") for p in tmp_path.iterdir())
    assert any("The backup of settlement.sqlite was cancelled; no backup was written." in m
               for m in messages(qgis_iface, Qgis.Warning))
    assert messages(qgis_iface, Qgis.Success) == []


def test_cancel_pressed_while_the_zip_is_written_removes_it(plugin, qgis_iface,
                                                            filled_store, tmp_path,
                                                            monkeypatch):
    real_backup = safety_tasks.backup_store

    def backup_then_cancel(store, target, **options):
        written = real_backup(store, target, **options)
        assert written.is_file()
        plugin.safety_task.cancel()  # as if pressed during the write
        return written

    monkeypatch.setattr(safety_tasks, "backup_store", backup_then_cancel)
    backups = tmp_path / "backups"
    backups.mkdir()
    task = plugin.start_backup(str(backups), filled_store.path)
    wait_for(plugin, task)
    assert list(backups.iterdir()) == []
    assert any("no backup was written" in m for m in messages(qgis_iface, Qgis.Warning))


def test_restore_cancelled_leaves_no_store(plugin, qgis_iface, filled_store, tmp_path,
                                           monkeypatch):
    written = plugin.backup_store_to(str(tmp_path / "b.zip"), filled_store.path)
    real_restore = safety_tasks.restore_store

    def restore_then_cancel(backup, target, **options):
        restored = real_restore(backup, target, **options)
        plugin.safety_task.cancel()  # as if pressed during the unpacking
        return restored

    monkeypatch.setattr(safety_tasks, "restore_store", restore_then_cancel)
    target = tmp_path / "restored.sqlite"
    task = plugin.start_restore(str(written), str(target))
    wait_for(plugin, task)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("restored.sqlite")]
    assert QgsProject.instance().mapLayers() == {}
    assert any("The restore of" in m and "was cancelled; no store was written." in m
               for m in messages(qgis_iface, Qgis.Warning))


def test_task_failures_reach_the_message_bar(plugin, qgis_iface, filled_store, tmp_path):
    existing = tmp_path / "b.zip"
    existing.write_bytes(b"an older backup")
    wait_for(plugin, plugin.start_backup(str(existing), filled_store.path))
    assert existing.read_bytes() == b"an older backup"
    cut = tmp_path / "cut.zip"
    cut.write_bytes(b"not a zip")
    wait_for(plugin, plugin.start_restore(str(cut), str(tmp_path / "restored.sqlite")))
    critical = messages(qgis_iface, Qgis.Critical)
    assert any("The backup was not made" in m and "already exists" in m for m in critical)
    assert any("The backup was not restored" in m and "not a readable backup" in m
               for m in critical)
    assert not (tmp_path / "restored.sqlite").exists()
    assert plugin.start_check() is None  # no store shown
    assert any("Show a settlement store" in m for m in messages(qgis_iface, Qgis.Critical))


def test_one_safety_task_at_a_time(plugin, qgis_iface, filled_store, tmp_path):
    assert plugin.show_store(filled_store.path)
    task = plugin.start_check()
    assert plugin.start_backup(str(tmp_path), filled_store.path) is None
    assert any("is running" in m for m in messages(qgis_iface, Qgis.Warning))
    wait_for(plugin, task)
    assert plugin.safety_task is None


# --- signed backups: a restore that cannot be authenticated -------------------------------
ADMIN, ADMIN_PASSWORD = "adele", "admin-password"


def unsigned_copy(backup, out):
    """``backup`` without its signature, as backups were before they were signed."""
    with zipfile.ZipFile(backup) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            if name != MAC_ENTRY:
                target.writestr(name, source.read(name))
    return out


@pytest.fixture
def unsigned_backup(plugin, filled_store, tmp_path):
    filled_store.users.create(ADMIN, "Adèle Administratrice", "administrator", ADMIN_PASSWORD)
    written = plugin.backup_store_to(str(tmp_path / "b.zip"), filled_store.path)
    return unsigned_copy(written, tmp_path / "unsigned.zip")


def accepted_events(path):
    with SettlementStore.open(path, read_only=True) as store:
        return store.db.query("SELECT event, happened_by, details FROM store_event")


def test_an_unsigned_backup_is_refused_saying_what_to_do(plugin, qgis_iface, unsigned_backup,
                                                         tmp_path):
    target = tmp_path / "restored.sqlite"
    assert not plugin.restore_backup_to(str(unsigned_backup), str(target))
    [message] = messages(qgis_iface, Qgis.Critical)
    assert "unsigned.zip cannot be authenticated: it is not signed" in message
    assert "Nothing was restored" in message and "Import the store's backup key" in message
    assert "administrator of the store accept" in message
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("restored")]
    assert QgsProject.instance().mapLayers() == {}


def test_an_administrator_accepts_an_unsigned_backup_inline(plugin, qgis_iface,
                                                             unsigned_backup, tmp_path):
    target = str(tmp_path / "restored.sqlite")
    assert not plugin.restore_backup_to(str(unsigned_backup), target,
                                        accept=Acceptance(ADMIN, "wrong", "ours"))
    assert any("not accepted" in m for m in messages(qgis_iface, Qgis.Critical))
    assert not os.path.exists(target)
    assert plugin.restore_backup_to(str(unsigned_backup), target,
                                    accept=Acceptance(ADMIN, ADMIN_PASSWORD, "ours"))
    assert shown_path() == target
    [event] = accepted_events(target)
    assert (event["event"], event["happened_by"]) == ("unverified_backup_accepted", ADMIN)


def test_the_restore_task_offers_to_accept_and_restores_once_accepted(
        plugin, qgis_iface, unsigned_backup, tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(trust_dialogs, "ask_what_to_do",
                        lambda parent, error, name: asked.append(error.reason) or
                        trust_dialogs.ACCEPT)
    monkeypatch.setattr(trust_dialogs, "ask_acceptance",
                        lambda parent, name: Acceptance(ADMIN, ADMIN_PASSWORD, "ours"))
    target = str(tmp_path / "restored.sqlite")
    wait_for(plugin, plugin.start_restore(str(unsigned_backup), target))
    assert asked == ["unsigned"]
    assert any("cannot be authenticated" in m for m in messages(qgis_iface, Qgis.Critical))
    assert shown_path() == target
    assert any(f"Restored {target}" in m for m in messages(qgis_iface, Qgis.Success))
    [event] = accepted_events(target)
    assert json.loads(event["details"])["note"] == "ours"


def test_cancel_after_an_unverified_restore_leaves_nothing(plugin, unsigned_backup, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(trust_dialogs, "ask_what_to_do", lambda *args: "")
    wait_for(plugin, plugin.start_restore(str(unsigned_backup),
                                          str(tmp_path / "restored.sqlite")))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("restored")]
    assert plugin.safety_task is None


def test_a_backup_restored_on_another_computer_after_importing_its_key(
        plugin, qgis_iface, filled_store, tmp_path, monkeypatch):
    assert plugin.show_store(filled_store.path)
    written = plugin.backup_store_to(str(tmp_path / "b.zip"))
    key_file = tmp_path / "office.stdmkey"
    monkeypatch.setattr(key_actions.QFileDialog, "getSaveFileName",
                        lambda *args: (str(key_file), ""))
    plugin.export_backup_key()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert any("Saved the backup key of settlement.sqlite" in m
               for m in messages(qgis_iface, Qgis.Success))
    QgsProject.instance().clear()
    monkeypatch.setenv("STDM_KEYRING", str(tmp_path / "other-computer"))
    asked = []
    monkeypatch.setattr(trust_dialogs, "ask_what_to_do",
                        lambda parent, error, name: asked.append(error.reason) or
                        trust_dialogs.IMPORT_KEY)
    monkeypatch.setattr(trust_dialogs, "ask_key_file", lambda parent: str(key_file))
    target = str(tmp_path / "restored.sqlite")
    wait_for(plugin, plugin.start_restore(str(written), target))
    assert asked == ["unknown_key"]
    assert any("does not hold the backup key of its store" in m
               for m in messages(qgis_iface, Qgis.Critical))
    assert any("Imported the backup key" in m for m in messages(qgis_iface, Qgis.Success))
    assert shown_path() == target
    assert accepted_events(target) == []  # authenticated: nothing to accept, nothing recorded


def test_the_acceptance_dialog_needs_a_login_and_a_note_and_fits_the_screen(qgis_iface):
    dialog = trust_dialogs.AcceptanceDialog("old.zip", qgis_iface.mainWindow())
    assert not dialog.ok_button.isEnabled()
    dialog.login.setText(ADMIN)
    assert not dialog.ok_button.isEnabled()
    dialog.password.setText(ADMIN_PASSWORD)
    dialog.note.setPlainText("our backup of 3 March")
    assert dialog.ok_button.isEnabled()
    assert dialog.acceptance() == Acceptance(ADMIN, ADMIN_PASSWORD, "our backup of 3 March")
    hint = dialog.sizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700
    dialog.show()
    QgsApplication.processEvents()
    artifacts = os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts")
    os.makedirs(artifacts, exist_ok=True)
    assert dialog.grab().save(os.path.join(artifacts, "backup_acceptance.png"))
    dialog.close()
