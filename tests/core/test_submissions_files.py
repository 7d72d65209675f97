"""Export layouts: KoBoToolbox XLSX (_index/_parent_index), ODK Central nested repeats, CSV."""
from datetime import date, datetime

import pytest
from openpyxl import Workbook
from submission_samples import shape, table_counts, write_csv

from stdm_plugin.core.store.errors import SubmissionFileError
from stdm_plugin.core.submissions.files import read_table
from stdm_plugin.core.submissions.mapping import FieldMapping
from stdm_plugin.core.submissions.submissions import import_submissions

KOBO_MAPPING = """
form_id: stdm_kobo
submitted_at_column: _submission_time
main:
  file: kobo_export.xlsx
  sheet: stdm_kobo
  key_column: _uuid
  ignored_columns: [_id, _index]
  records:
  - type: household
    columns: {hh_name: group_name}
repeats:
- name: members
  file: kobo_export.xlsx
  sheet: members
  parent_key_column: _parent_index
  parent_link_column: _index
  ignored_columns: [_index, _parent_table_name, _submission__uuid]
  records:
  - type: person
    links: {group_party_id: household}
    columns:
      first_name: first_name
      sex: {field: sex, values: {male: male, female: female}}
      dob: date_of_birth
      age: age_years
"""
UUIDS = ["464423ec-b7a0-4924-b3e4-ce85bb6a5286", "b3296fc2-e492-42ae-adb3-7bd1d50ce72e"]


def kobo_workbook(path, bad_sex=None):
    book = Workbook()
    main = book.active
    main.title = "stdm_kobo"
    main.append(["hh_name", "water", "_id", "_uuid", "_submission_time", "_index"])
    main.append(["Famille Koné", "tap", 101, UUIDS[0], datetime(2024, 3, 1, 10, 0), 1])
    main.append(["Famille Yao", 7.5, 102, UUIDS[1], datetime(2024, 3, 2, 9, 30), 2])
    members = book.create_sheet("members")
    members.append(["first_name", "sex", "dob", "age", "_index", "_parent_table_name",
                    "_parent_index", "_submission__uuid"])
    members.append(["Awa", "female", date(1980, 4, 1), 44, 1, "stdm_kobo", 1, UUIDS[0]])
    members.append(["Koffi", "male", None, 40.0, 2, "stdm_kobo", 2, UUIDS[1]])
    members.append(["Adjoua", bad_sex or "female", date(2010, 1, 5), 14, 3, "stdm_kobo", 2,
                    UUIDS[1]])
    book.save(path)
    return str(path)


def test_a_kobo_xlsx_export_joins_by_index_and_reads_typed_cells(store, tmp_path):
    path = kobo_workbook(tmp_path / "kobo_export.xlsx")
    report = import_submissions(store, [path], FieldMapping.from_yaml(KOBO_MAPPING))
    assert report.problems == [] and report.imported == 2
    assert report.rows_read == {"kobo_export.xlsx [stdm_kobo]": 2,
                                "kobo_export.xlsx [members]": 3}
    ids = {r["id"]: r["submitted_at"] for r in store.db.query("SELECT * FROM submission")}
    assert ids == {f"uuid:{UUIDS[0]}": "2024-03-01T10:00:00.000Z",
                   f"uuid:{UUIDS[1]}": "2024-03-02T09:30:00.000Z"}
    [yao] = store.parties.find("group_name = 'Famille Yao'")
    assert yao.answers == '{"water": "7.5"}'
    people = {p.first_name: p for p in store.parties.members(yao.id)}
    assert sorted(people) == ["Adjoua", "Koffi"]
    assert (people["Adjoua"].date_of_birth, people["Adjoua"].age_years) == ("2010-01-05", 14)
    assert people["Koffi"].age_years == 40 and people["Koffi"].sex == "male"


def test_a_bad_cell_in_an_xlsx_sheet_is_reported_with_its_sheet_and_row(store, tmp_path):
    path = kobo_workbook(tmp_path / "kobo_export.xlsx", bad_sex="F")
    report = import_submissions(store, [path], FieldMapping.from_yaml(KOBO_MAPPING))
    bad = [p for p in report.problems if p.kind == "unknown_choice"]
    assert [(p.file, p.spreadsheet_row, p.field, p.value) for p in bad] == [
        ("kobo_export.xlsx [members]", 4, "sex", "F")]
    assert "'male', 'female'" in bad[0].reason
    assert store.parties.count() == 0


NESTED_MAPPING = """
form_id: claims_form
main:
  file: claims.csv
  key_column: KEY
  records:
  - type: household
    columns: {hh: group_name}
  - type: parcel
    constants: {settlement_code: KOU}
    geometry: [{column: plot, kind: geoshape, field: boundary}]
repeats:
- name: members
  file: claims-members.csv
  parent: main
  key_column: KEY
  parent_key_column: PARENT_KEY
  records:
  - type: person
    links: {group_party_id: household}
    columns: {name: first_name}
- name: claims
  file: claims-claims.csv
  parent: members
  parent_key_column: PARENT_KEY
  records:
  - type: tenure
    links: {party_id: person, spatial_unit_id: parcel}
    constants: {tenure_type: co_owner}
    columns: {share: share}
"""


def write_claims(folder, shares):
    """Households with two members each, each member claiming the household's parcel."""
    main, people, claims = [], [], []
    for i, pair in enumerate(shares):
        key = f"uuid:0000000{i}-aaaa-4bbb-8ccc-000000000000"
        main.append({"hh": f"Famille {i}", "plot": shape(5.3 + i * 0.001, -3.95), "KEY": key})
        for j, value in enumerate(pair):
            member_key = f"{key}/members[{j + 1}]"
            people.append({"name": f"P{i}{j}", "PARENT_KEY": key, "KEY": member_key})
            claims.append({"share": value, "PARENT_KEY": member_key,
                           "KEY": f"{member_key}/claims[1]"})
    return [write_csv(f"{folder}/claims.csv", main, ["hh", "plot", "KEY"]),
            write_csv(f"{folder}/claims-members.csv", people, ["name", "PARENT_KEY", "KEY"]),
            write_csv(f"{folder}/claims-claims.csv", claims, ["share", "PARENT_KEY", "KEY"])]


def test_nested_repeats_join_by_the_parent_rows_key(store, settlement, tmp_path):
    files = write_claims(tmp_path, [("1/2", "1/2"), ("1/3", "2/3")])
    report = import_submissions(store, files, FieldMapping.from_yaml(NESTED_MAPPING))
    assert report.problems == [] and report.created["social_tenure"] == 4
    for tenure in store.tenure.find():
        person = store.parties.get(tenure.party_id)
        parcel = store.spatial_units.get(tenure.spatial_unit_id)
        household = store.parties.get(person.group_party_id)
        assert person.submission_id == household.submission_id == parcel.submission_id
        assert (person.first_name, str(tenure.share)) in {
            ("P00", "1/2"), ("P01", "1/2"), ("P10", "1/3"), ("P11", "2/3")}


def test_a_refusal_at_write_time_names_the_row_and_only_that_submission_fails(
        store, settlement, tmp_path):
    files = write_claims(tmp_path, [("1/2", "1/2"), ("1", "1/2"), ("1/4", "1/4")])
    mapping = FieldMapping.from_yaml(NESTED_MAPPING)
    before = table_counts(store)
    report = import_submissions(store, files, mapping)
    [refused] = [p for p in report.problems if p.kind == "invalid_record"]
    assert (refused.file, refused.spreadsheet_row, refused.field, refused.value) == (
        "claims-claims.csv", 5, "share", "1/2")
    assert "more than 1" in refused.reason
    assert (report.imported, report.rejected, report.held_back) == (0, 1, 2)
    assert table_counts(store) == before
    kept = import_submissions(store, files, mapping, mode="valid_rows")
    assert (kept.imported, kept.rejected) == (2, 1)
    assert store.tenure.count() == 4


def test_csv_delimiter_is_detected_and_rows_keep_spreadsheet_numbers(tmp_path):
    path = tmp_path / "kobo.csv"
    path.write_text('"name";"age"\n"Awa";"34"\n\n"Yao";"5"\n', encoding="utf-8")
    table = read_table(str(path))
    assert table.columns == ["name", "age"]
    assert [(r.row, r.values["name"]) for r in table.rows] == [(2, "Awa"), (4, "Yao")]


@pytest.mark.parametrize("name,content,words", [
    ("old.xls", b"\xd0\xcf\x11\xe0", "old Excel 97"),
    ("twice.csv", b"a,b,a\n1,2,3\n", "appears twice"),
    ("utf16.csv", "a,b\n1,2\n".encode("utf-16"), "UTF-16"),
    ("empty.csv", b"", "no header row"),
])
def test_unreadable_files_say_why(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SubmissionFileError, match=words) as info:
        read_table(str(path))
    assert info.value.path == str(path)


def test_a_missing_sheet_lists_the_sheets(tmp_path):
    path = kobo_workbook(tmp_path / "kobo_export.xlsx")
    with pytest.raises(SubmissionFileError, match="no sheet 'roster'.*stdm_kobo, members"):
        read_table(path, sheet="roster")


def test_a_mapped_column_missing_from_the_file_stops_the_import(store, tmp_path):
    path = kobo_workbook(tmp_path / "kobo_export.xlsx")
    mapping = FieldMapping.from_yaml(KOBO_MAPPING.replace("age: age_years",
                                                          "age_years: age_years"))
    report = import_submissions(store, [path], mapping)
    [problem] = report.problems
    assert (problem.kind, problem.file, problem.field) == (
        "missing_column", "kobo_export.xlsx [members]", "age_years")
    assert report.submissions_seen == 0 and store.parties.count() == 0


def test_a_file_the_mapping_needs_but_was_not_given(store, tmp_path):
    path = kobo_workbook(tmp_path / "other_name.xlsx")
    report = import_submissions(store, [path], FieldMapping.from_yaml(KOBO_MAPPING))
    assert {p.kind for p in report.problems} == {"missing_file"}
    assert "other_name.xlsx" in report.problems[0].reason
