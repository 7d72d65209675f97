"""STDM ▸ Import submissions: the dialog, the background task and the report, on a store
shown in the project.

Every import runs through QGIS's task manager, in a worker thread with its
own store connection, as in QGIS; the store is then read back through the
core, and the report dialog is compared with the core's report.
"""
import csv
import pathlib
import random
import time

import pytest
from qgis.core import Qgis, QgsApplication, QgsProject

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.forms.xlsform import export_xlsform
from stdm_plugin.core.submissions.submissions import ALL_OR_NOTHING, VALID_ROWS
from stdm_plugin.gui.submissions.import_dialog import ImportDialog
from stdm_plugin.gui.submissions.import_report_dialog import ProblemTableModel
from stdm_plugin.qgis.submissions.import_task import (
    ImportRequest,
    ImportSubmissionsTask,
    ImportTarget,
    own_form_files,
)
from tests.core import submission_samples as samples
from tests.core.test_form_roundtrip import FORM, columns_of
from tests.core.test_form_roundtrip import submissions as form_submissions
from tests.core.test_form_roundtrip import write_export as write_form_export

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ABIDJAN = ROOT.parent / "shared" / "data" / "kobo_abidjan_2022"
ABIDJAN_MAPPING = ROOT / "forms" / "mappings" / "kobo_abidjan_2022.yaml"


def messages(iface, level):
    """The message bar's texts, without the "STDM:" title pytest-qgis puts before them."""
    return [m.split(":", 1)[1] if m.startswith("STDM:") else m
            for m in iface.messageBar().get_messages(level)]


def screenshot(widget, app, name):
    widget.show()
    app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert widget.grab().save(str(ARTIFACTS / name))


def wait_for_import(plugin, seconds=120):
    """Until the task manager has run the import and the plugin has its outcome."""
    deadline = time.monotonic() + seconds
    while plugin.import_task is not None:
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.02)
    QgsApplication.processEvents()


def run_import(plugin, request):
    target = ImportTarget.for_project(QgsProject.instance())
    task = plugin.start_import(target, request)
    assert isinstance(task, ImportSubmissionsTask)
    wait_for_import(plugin)
    return plugin.report_dialog


def rows_of(model):
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())]
            for r in range(model.rowCount())]


def expected_rows(problems):
    return [["" if v is None else str(v) for v in
             (p.file, p.spreadsheet_row, p.field, p.value, p.reason)] for p in problems]


@pytest.fixture
def shown(plugin, filled_store, qgis_iface):
    """The filled store, shown in the project: where the plugin imports to."""
    assert plugin.show_store(filled_store.path)
    qgis_iface.messageBar().clear_messages()
    return filled_store


@pytest.fixture
def sample_mapping(tmp_path):
    path = tmp_path / "stdm_enumeration.yaml"
    path.write_text(samples.MAPPING_YAML, encoding="utf-8")
    return str(path)


def bad_export(folder):
    """Four submissions: an unknown land use, a date as dd/mm/yyyy, a missing photo."""
    main = samples.households(4)
    main[1]["land_use"] = "garden"
    people = samples.members(main)
    people[4]["dob"] = "12/05/1981"
    files, media = samples.write_export(folder, main, people)
    (pathlib.Path(media) / main[3]["house_photo"]).unlink()
    return files, media


# --- the action and the dialog ------------------------------------------------------
def test_the_action_is_in_the_menu_and_needs_a_store(plugin, qgis_iface):
    action = next(a for a in plugin.actions if a.text() == "Import submissions…")
    assert action in plugin.menu.actions() and action not in plugin.toolbar.actions()
    assert plugin.import_submissions() is None
    assert any("Show a settlement store in this project first" in m
               for m in messages(qgis_iface, Qgis.Critical))


def test_the_dialog_gathers_the_choices(shown, qgis_app, tmp_path, sample_mapping):
    target = ImportTarget.for_project(QgsProject.instance())
    assert target.settlements == [("KOU", "KOU — Koumassi Campement")]
    files, media = samples.write_export(tmp_path)
    dialog = ImportDialog(target.label, target.settlements, own_form_files())
    assert dialog.own_form.isChecked() and dialog.all_or_nothing.isChecked()
    assert dialog.missing() == "Choose the exported files."
    dialog.files_widget.setFilePath(" ".join(f'"{f}"' for f in files))
    dialog.media_widget.setFilePath(media)
    assert dialog.missing() == ""
    assert dialog.request() == ImportRequest(files=files, mode=ALL_OR_NOTHING, media_dir=media,
                                             mapping_path=None, settlement_code="KOU",
                                             flavour="odk_central")
    dialog.flavour.setCurrentIndex(dialog.flavour.findData("kobo"))
    assert dialog.request().flavour == "kobo"
    screenshot(dialog, qgis_app, "import_dialog.png")

    dialog.saved_mapping.setChecked(True)
    assert not dialog.own_options.isEnabled() and dialog.saved_options.isEnabled()
    assert dialog.missing() == "Choose the saved mapping file."
    dialog.accept()
    assert dialog.problem.isVisibleTo(dialog) and dialog.result() == 0  # stays open
    dialog.mapping_widget.setFilePath(sample_mapping)
    dialog.valid_rows.setChecked(True)
    request = dialog.request()
    assert (request.mapping_path, request.settlement_code, request.mode) == (
        sample_mapping, "", VALID_ROWS)
    dialog.accept()
    assert dialog.result() == 1


def test_a_store_without_settlements_offers_only_a_saved_mapping(qgis_app):
    dialog = ImportDialog("empty.sqlite", [], own_form_files())
    assert not dialog.own_form.isEnabled() and dialog.saved_mapping.isChecked()
    dialog.close()


# --- imports through the task manager --------------------------------------------------
def test_an_export_imports_through_the_dialog_and_the_layers_show_it(
        plugin, shown, qgis_iface, qgis_app, tmp_path, sample_mapping, monkeypatch):
    files, media = samples.write_export(tmp_path)
    before = samples.table_counts(shown)
    parcels = QgsProject.instance().mapLayersByName("Parcels")[0]
    assert parcels.featureCount() == 2

    def fill_and_accept(dialog):
        dialog.files_widget.setFilePath(" ".join(f'"{f}"' for f in files))
        dialog.media_widget.setFilePath(media)
        dialog.saved_mapping.setChecked(True)
        dialog.mapping_widget.setFilePath(sample_mapping)
        dialog.accept()
        return dialog.result()

    monkeypatch.setattr(ImportDialog, "exec_", fill_and_accept)
    assert isinstance(plugin.import_submissions(), ImportSubmissionsTask)
    wait_for_import(plugin)

    assert messages(qgis_iface, Qgis.Critical) == []
    [success] = messages(qgis_iface, Qgis.Success)
    assert "3 imported, 0 already imported, 0 rejected" in success
    report = plugin.report_dialog.report
    assert report.ok and report.imported == 3
    after = samples.table_counts(shown)
    assert {t: after[t] - before[t] for t in report.created} == report.created == {
        "submission": 3, "party": 9, "spatial_unit": 6, "social_tenure": 3,
        "supporting_document": 9}
    assert parcels.featureCount() == 5  # the layers were refreshed
    dialog = plugin.report_dialog
    assert dialog.isVisible() and dialog.table.isHidden() and dialog.model.rowCount() == 0
    assert "#dff0d8" in dialog.banner.styleSheet()  # green
    screenshot(dialog, qgis_app, "import_report_ok.png")
    csv_path = tmp_path / "report.csv"
    assert dialog.save_csv(str(csv_path))
    assert csv_path.read_text(encoding="utf-8-sig").splitlines() == [
        "file,spreadsheet_row,field,value,reason,kind,target,submission_id"]

    again = run_import(plugin, ImportRequest(files=files, media_dir=media,
                                             mapping_path=sample_mapping))
    assert (again.report.imported, again.report.skipped) == (0, 3)
    assert samples.table_counts(shown) == after


def test_a_bad_export_is_refused_whole_and_every_problem_is_listed(
        plugin, shown, qgis_iface, qgis_app, tmp_path, sample_mapping):
    files, media = bad_export(tmp_path)
    before = samples.table_counts(shown)
    dialog = run_import(plugin, ImportRequest(files=files, media_dir=media,
                                              mapping_path=sample_mapping))
    report = dialog.report
    assert samples.table_counts(shown) == before  # all or nothing: nothing at all
    assert (report.imported, report.rejected, report.held_back, report.written) == (
        0, 3, 1, False)
    assert {p.kind for p in report.problems} >= {"unknown_choice", "bad_date",
                                                  "missing_media"}
    [critical] = messages(qgis_iface, Qgis.Critical)
    assert critical.startswith("Nothing was imported into settlement.sqlite:")
    assert "1 valid one(s) held back" in critical
    assert messages(qgis_iface, Qgis.Success) == []

    assert rows_of(dialog.model) == expected_rows(report.problems)
    assert "#f2dede" in dialog.banner.styleSheet()  # red
    unknown = next(p for p in report.problems if p.kind == "unknown_choice")
    assert (unknown.file, unknown.spreadsheet_row, unknown.field, unknown.value) == (
        samples.MAIN_FILE, 3, "land_use", "garden")
    row = report.problems.index(unknown)
    assert "unknown_choice" in dialog.model.data(dialog.model.index(row, 4), 3)  # tooltip
    dialog.table.selectRow(row)
    assert dialog.details.text().startswith(unknown.reason)
    screenshot(dialog, qgis_app, "import_report_problems.png")

    csv_path = tmp_path / "report.csv"
    assert dialog.save_csv(str(csv_path))
    assert str(csv_path) in dialog.status.text()
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        saved = list(csv.DictReader(handle))
    assert [[r["file"], r["spreadsheet_row"], r["field"], r["value"], r["reason"]]
            for r in saved] == expected_rows(report.problems)
    assert not dialog.save_csv(str(tmp_path / "no" / "such" / "folder.csv"))
    assert "not saved" in dialog.status.text()


def test_valid_rows_keeps_the_good_submissions(plugin, shown, qgis_iface, tmp_path,
                                               sample_mapping):
    files, media = bad_export(tmp_path)
    dialog = run_import(plugin, ImportRequest(files=files, media_dir=media,
                                              mapping_path=sample_mapping, mode=VALID_ROWS))
    report = dialog.report
    assert (report.imported, report.rejected, report.written) == (1, 3, True)
    assert "#fcf8e3" in dialog.banner.styleSheet()  # amber
    assert rows_of(dialog.model) == expected_rows(report.problems)
    [warning] = messages(qgis_iface, Qgis.Warning)
    assert "1 imported" in warning and "3 rejected" in warning
    assert shown.parties.find("group_name = ?", ("Famille Koné 0",))


@pytest.mark.parametrize("mode", [ALL_OR_NOTHING, VALID_ROWS])
def test_a_cancelled_import_leaves_the_store_unchanged(plugin, shown, qgis_iface, tmp_path,
                                                       sample_mapping, monkeypatch, mode):
    """Cancel pressed while the records are being written: the core calls the progress
    callback inside its transaction, after writing, so the records are there and roll back."""
    files, media = samples.write_export(tmp_path)
    before = samples.table_counts(shown)
    seen = []
    progress = ImportSubmissionsTask._progress

    def cancel_while_writing(task, done, total):
        seen.append((done, total))
        task.cancel()
        progress(task, done, total)

    monkeypatch.setattr(ImportSubmissionsTask, "_progress", cancel_while_writing)
    assert run_import(plugin, ImportRequest(files=files, media_dir=media,
                                            mapping_path=sample_mapping, mode=mode)) is None
    assert seen == [(1 if mode == VALID_ROWS else 3, 3)]
    assert samples.table_counts(shown) == before
    [warning] = messages(qgis_iface, Qgis.Warning)
    assert warning == ("The import into settlement.sqlite was cancelled: nothing was "
                       "imported, the store is unchanged.")
    assert messages(qgis_iface, Qgis.Success) == []


def test_the_plugins_own_form_imports_with_its_derived_mapping(plugin, shown, qgis_iface,
                                                               tmp_path):
    main_columns, member_columns = columns_of(export_xlsform(FORM, tmp_path / "form.xlsx"))
    media = tmp_path / "media"
    media.mkdir()
    made = form_submissions(random.Random(7), media)
    write_form_export(tmp_path, made, main_columns, member_columns)
    files = [str(tmp_path / name) for name in own_form_files()]
    parties = shown.parties.count()
    dialog = run_import(plugin, ImportRequest(files=files, media_dir=str(media),
                                              settlement_code="KOU"))
    assert dialog.report.ok, dialog.report.summary()
    assert dialog.report.imported == 5
    assert shown.parties.count() == parties + 5 + sum(len(s["members"]) for s in made)
    assert {h.group_name for h in shown.parties.find("party_type = 'household'")} >= {
        s["household-household_name"] for s in made}
    assert QgsProject.instance().mapLayersByName("Parcels")[0].featureCount() == 2 + 5
    assert messages(qgis_iface, Qgis.Critical) == []


def test_a_broken_mapping_file_is_reported_before_anything_starts(plugin, shown, qgis_iface,
                                                                  tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("format: 1\nform_id: x\nmain: {file: a.csv}\n", encoding="utf-8")
    target = ImportTarget.for_project(QgsProject.instance())
    assert plugin.start_import(target, ImportRequest(files=[str(broken)],
                                                     mapping_path=str(broken))) is None
    [critical] = messages(qgis_iface, Qgis.Critical)
    assert critical.startswith("The import did not start:") and "key_column" in critical


def test_an_import_into_a_store_on_postgis(plugin, qgis_iface, postgis_server, tmp_path,
                                           sample_mapping):
    from test_plugin_postgis import connection_to

    connection = connection_to(postgis_server, postgis_server.fresh_schema())
    assert plugin.create_postgis_store(connection, "EPSG:32630", ("KOU", "Koumassi"))
    files, media = samples.write_export(tmp_path)
    dialog = run_import(plugin, ImportRequest(files=files, media_dir=media,
                                              mapping_path=sample_mapping))
    assert dialog.report.ok and dialog.report.imported == 3, dialog.report.summary()
    with SettlementStore.open_postgis(connection.psycopg2_params(), connection.schema) as store:
        assert samples.table_counts(store)["party"] == 9
    assert QgsProject.instance().mapLayersByName("Parcels")[0].featureCount() == 3
    assert messages(qgis_iface, Qgis.Critical) == []


@pytest.mark.skipif(not (ABIDJAN / "household_data_abidjan.csv").exists(),
                    reason=f"the real KoBoToolbox export is not at {ABIDJAN}")
def test_the_real_abidjan_export_with_its_saved_mapping(plugin, qgis_iface, tmp_path):
    path = tmp_path / "abidjan.sqlite"
    assert plugin.create_store(str(path), "EPSG:32630", ("ABJ", "Abidjan"))
    files = [str(ABIDJAN / "household_data_abidjan.csv"),
             str(ABIDJAN / "individual_data_abidjan.csv")]
    dialog = run_import(plugin, ImportRequest(files=files, mapping_path=str(ABIDJAN_MAPPING)))
    report = dialog.report
    assert report.problems == [] and (report.imported, report.rejected) == (567, 0)
    assert report.households_needing_mapping == 567
    with SettlementStore.open(path) as store:
        counts = {r["party_type"]: r["n"] for r in store.db.query(
            "SELECT party_type, count(*) AS n FROM party GROUP BY party_type")}
    assert counts == {"household": 567, "person": 2498}
    assert any("567 imported" in m for m in messages(qgis_iface, Qgis.Success))
    assert QgsProject.instance().mapLayersByName("Parties")[0].featureCount() == 567 + 2498


def test_the_model_reads_the_problems_as_they_are():
    from stdm_plugin.core.submissions.report import RowProblem

    problems = [RowProblem("a.csv", 4, "sex", "X", "unknown", "unknown_choice"),
                RowProblem("b.csv", None, None, None, "no file", "missing_file")]
    model = ProblemTableModel(problems)
    assert rows_of(model) == [["a.csv", "4", "sex", "X", "unknown"],
                              ["b.csv", "", "", "", "no file"]]
    assert [model.headerData(c, 1) for c in range(5)] == ["File", "Row", "Field", "Value",
                                                          "Reason"]
