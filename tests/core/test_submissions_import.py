"""Importing ODK Central style exports: good rows land, every bad row is explained."""
import csv
import hashlib
import json
import os

import pytest
from submission_samples import (
    MAIN_FILE,
    MEMBERS_FILE,
    households,
    jpeg,
    mapping,
    members,
    table_counts,
    write_export,
)

from stdm_plugin.core.submissions.submissions import import_submissions


def problem_at(report, file, row):
    found = [p for p in report.problems if p.file == file and p.spreadsheet_row == row
             and p.kind != "rejected_with_submission"]
    assert len(found) == 1, report.problems
    return found[0]


def test_a_clean_export_lands_with_links_answers_and_documents(store, settlement, tmp_path):
    files, media = write_export(tmp_path)
    report = import_submissions(store, files, mapping(), media_dir=media)
    assert report.problems == []
    assert (report.submissions_seen, report.imported, report.rejected) == (3, 3, 0)
    assert report.written
    assert report.created == {"submission": 3, "party": 9, "spatial_unit": 6,
                              "social_tenure": 3, "supporting_document": 9}
    assert report.rows_read == {MAIN_FILE: 3, MEMBERS_FILE: 6}
    [household] = store.parties.find("group_name = ?", ("Famille Koné 0",))
    assert household.needs_mapping == 0 and household.anonymised == 0
    assert json.loads(household.answers) == {"water_source": "tap"}
    assert household.submission_id == "uuid:00000000-0000-0000-0000-0000000003e8"
    people = store.parties.members(household.id)
    assert sorted((p.first_name, p.sex, p.household_role, p.date_of_birth) for p in people) == [
        ("Awa", "female", "head", "1980-04-01"), ("Issa", "male", "child", "1981-04-02")]
    assert {json.loads(p.answers)["school"] for p in people} == {"primary"}
    claim = store.tenure.of_party(household.id)[0]
    parcel = store.spatial_units.get(claim.spatial_unit_id)
    assert (claim.tenure_type, claim.share, claim.start_date) == ("owner", 1, "2015-06-01")
    assert parcel.code == "KOU-P00001" and parcel.land_use == "residential"
    assert parcel.area_m2 == pytest.approx(300, rel=0.005)
    structure = store.spatial_units.find("parcel_id = ?", (parcel.id,))[0]
    assert structure.kind == "structure" and structure.location.within(parcel.boundary)
    row = store.db.query_one("SELECT * FROM submission WHERE id = ?", (household.submission_id,))
    assert (row["form_id"], row["form_version"], row["submitted_at"], row["imported_by"]) == (
        "stdm_enumeration", "2024030101", "2024-03-01T10:10:00.000Z", "tester")


def test_media_are_attached_with_their_sha256(store, settlement, tmp_path):
    files, media = write_export(tmp_path)
    import_submissions(store, files, mapping(), media_dir=media)
    documents = store.documents.find()
    assert len(documents) == 9
    for document in documents:
        expected = jpeg(document.file_name)
        assert document.sha256 == hashlib.sha256(expected).hexdigest()
        assert store.documents.content(document.id) == expected
        assert document.submission_id is not None
    photos = [d for d in documents if d.document_type == "photo"]
    assert {d.file_name for d in photos} == {"house-0.jpg", "house-1.jpg", "house-2.jpg"}
    assert all(d.spatial_unit_id for d in photos)
    scans = [d for d in documents if d.document_type == "id_scan"]
    assert len(scans) == 6 and all(d.party_id for d in scans)


def test_importing_the_same_export_twice_creates_no_duplicates(store, settlement, tmp_path):
    rows = households(3)
    files, media = write_export(tmp_path, rows[:2], members(rows[:2]))
    assert import_submissions(store, files, mapping(), media_dir=media).imported == 2
    files, media = write_export(tmp_path, rows)
    again = import_submissions(store, files, mapping(), media_dir=media)
    assert (again.imported, again.skipped, again.problems) == (1, 2, [])
    assert again.skipped_ids == [rows[0]["KEY"], rows[1]["KEY"]]
    before = table_counts(store)
    third = import_submissions(store, files, mapping(), media_dir=media)
    assert (third.imported, third.skipped) == (0, 3)
    assert table_counts(store) == before
    assert before["submission"] == 3 and before["party"] == 9


def make_bad(kind, main_rows, member_rows, media):
    """Spoil one cell; returns (file, spreadsheet row, column, value) the report must name."""
    if kind == "unknown_choice":
        member_rows[3]["sex"] = "X"
        return MEMBERS_FILE, 5, "sex", "X"
    if kind == "bad_date":
        member_rows[2]["dob"] = "04/01/1980"
        return MEMBERS_FILE, 4, "dob", "04/01/1980"
    if kind == "missing_media":
        os.remove(os.path.join(media, "house-1.jpg"))
        return MAIN_FILE, 3, "house_photo", "house-1.jpg"
    if kind == "required_missing":
        main_rows[1]["hh_name"] = " "
        return MAIN_FILE, 3, "hh_name", " "
    if kind == "orphan_repeat":
        member_rows[5]["PARENT_KEY"] = "uuid:not-in-the-export"
        return MEMBERS_FILE, 7, "PARENT_KEY", "uuid:not-in-the-export"
    raise AssertionError(kind)


REASONS = {
    "unknown_choice": ["'X' is not one of", "'M', 'F'"],
    "bad_date": ["not a date written YYYY-MM-DD"],
    "missing_media": ["'house-1.jpg' is not in the media folder"],
    "required_missing": ["hh_name is empty", "required"],
    "orphan_repeat": ["parent row", "'uuid:not-in-the-export'", "stdm_enumeration.csv"],
}


@pytest.mark.parametrize("kind", sorted(REASONS))
def test_each_bad_input_is_reported_and_nothing_is_written(store, settlement, tmp_path, kind):
    main_rows = households(3)
    member_rows = members(main_rows)
    files, media = write_export(tmp_path, main_rows, member_rows)
    file, row, column, value = make_bad(kind, main_rows, member_rows, media)
    files, media = write_export(tmp_path, main_rows, member_rows, media=False)
    before = table_counts(store)
    report = import_submissions(store, files, mapping(), media_dir=media)
    problem = problem_at(report, file, row)
    assert (problem.kind, problem.field, problem.value) == (kind, column, value)
    for words in REASONS[kind]:
        assert words in problem.reason
    if kind == "missing_media":
        assert media in problem.reason
    assert not report.written and report.imported == 0
    assert table_counts(store) == before


@pytest.mark.parametrize("shape,words", [
    ("5.2990 abc 0 0;5.2991 -3.95 0 0;5.2991 -3.9499 0 0", "not a number"),
    ("5.2990 -3.95 0 0;5.2991 -3.95 0 0;5.2990 -3.95 0 0", "at least 3 distinct corners"),
    ("5.2990 -3.9500 0 0;5.2991 -3.9499 0 0;5.2991 -3.9500 0 0;5.2990 -3.9499 0 0;"
     "5.2990 -3.9500 0 0", "Self-intersection"),
    ("95.2990 -3.95 0 0;95.2991 -3.95 0 0;95.2991 -3.9499 0 0", "longitude first"),
    ("5.2990 -3.95", "at least 3 distinct corners"),
])
def test_broken_geoshapes_say_why(store, settlement, tmp_path, shape, words):
    main_rows = households(2)
    main_rows[1]["parcel_shape"] = shape
    files, media = write_export(tmp_path, main_rows)
    report = import_submissions(store, files, mapping(), media_dir=media)
    problem = problem_at(report, MAIN_FILE, 3)
    assert (problem.kind, problem.field, problem.value) == ("bad_geometry", "parcel_shape",
                                                            shape)
    assert words in problem.reason
    assert store.spatial_units.count() == 0


def test_a_non_utf8_file_is_refused_naming_the_byte_and_line(store, settlement, tmp_path):
    files, media = write_export(tmp_path)
    with open(files[0], encoding="utf-8") as handle:
        text = handle.read()
    with open(files[0], "wb") as handle:
        handle.write(text.encode("cp1252"))
    before = table_counts(store)
    report = import_submissions(store, files, mapping(), media_dir=media)
    [problem] = report.problems
    assert (problem.kind, problem.file, problem.spreadsheet_row, problem.value) == (
        "encoding", MAIN_FILE, 2, "e9")
    offset = text.encode("cp1252").index(b"\xe9")
    assert f"offset {offset} (line 2)" in problem.reason
    assert "UTF-8" in problem.reason and "Export it again" in problem.reason
    assert table_counts(store) == before


def test_utf8_with_a_byte_order_mark_is_read(store, settlement, tmp_path):
    files, media = write_export(tmp_path)
    with open(files[0], encoding="utf-8") as handle:
        text = handle.read()
    with open(files[0], "w", encoding="utf-8-sig") as handle:
        handle.write(text)
    report = import_submissions(store, files, mapping(), media_dir=media)
    assert report.problems == [] and report.imported == 3
    assert store.parties.find("group_name = ?", ("Famille Koné 0",))


def test_all_or_nothing_leaves_the_store_as_it_was(store, settlement, tmp_path):
    main_rows = households(4)
    member_rows = members(main_rows)
    member_rows[5]["sex"] = "?"  # one member of the third household
    files, media = write_export(tmp_path, main_rows, member_rows)
    before = table_counts(store)
    report = import_submissions(store, files, mapping(), media_dir=media)
    assert table_counts(store) == before
    assert (report.imported, report.rejected, report.held_back) == (0, 1, 3)
    assert "Nothing was written" in report.summary()
    # the bad row, and the other rows of its submission, each say why they are not in
    assert report.rejected_rows() == {(MEMBERS_FILE, 7), (MEMBERS_FILE, 6), (MAIN_FILE, 4)}
    collateral = [p for p in report.problems if p.kind == "rejected_with_submission"]
    assert {p.submission_id for p in collateral} == {main_rows[2]["KEY"]}
    assert "row 7" in collateral[0].reason


def test_valid_rows_keeps_the_good_submissions(store, settlement, tmp_path):
    main_rows = households(4)
    member_rows = members(main_rows)
    member_rows[5]["sex"] = "?"
    main_rows[0]["start_date"] = "2015-13-01"
    files, media = write_export(tmp_path, main_rows, member_rows)
    report = import_submissions(store, files, mapping(), media_dir=media, mode="valid_rows")
    assert (report.imported, report.rejected, report.held_back) == (2, 2, 0)
    kept = {r["id"] for r in store.db.query("SELECT id FROM submission")}
    assert kept == {main_rows[1]["KEY"], main_rows[3]["KEY"]}
    assert store.parties.count() == 6
    assert store.db.scalar("SELECT count(*) FROM party WHERE submission_id = ?",
                           (main_rows[2]["KEY"],)) == 0
    assert problem_at(report, MAIN_FILE, 2).kind == "bad_date"
    # fixing the rows and importing again brings in only what is missing
    main_rows[0]["start_date"] = "2015-06-01"
    member_rows[5]["sex"] = "M"
    files, media = write_export(tmp_path, main_rows, member_rows)
    again = import_submissions(store, files, mapping(), media_dir=media)
    assert (again.imported, again.skipped, again.problems) == (2, 2, [])
    assert store.parties.count() == 12


def test_a_household_without_a_shape_is_flagged_for_mapping(store, settlement, tmp_path):
    main_rows = households(2)
    main_rows[1]["parcel_shape"] = main_rows[1]["structure_point"] = ""
    files, media = write_export(tmp_path, main_rows)
    report = import_submissions(store, files, mapping(), media_dir=media)
    assert report.problems == []
    assert report.households_needing_mapping == 1
    flagged = store.parties.find("needs_mapping = 1")
    assert [p.group_name for p in flagged] == [main_rows[1]["hh_name"]]
    assert store.spatial_units.count() == 2 and store.tenure.count() == 1
    # the photo of the unmapped house is kept with the household's answers
    assert json.loads(flagged[0].answers)["house_photo"] == "house-1.jpg"


def test_the_report_is_written_as_csv(store, settlement, tmp_path):
    main_rows = households(2)
    member_rows = members(main_rows)
    member_rows[1]["dob"] = "1.4.1981"
    files, media = write_export(tmp_path, main_rows, member_rows)
    report = import_submissions(store, files, mapping(), media_dir=media)
    path = tmp_path / "report.csv"
    report.write_csv(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["file"] == MEMBERS_FILE and rows[0]["spreadsheet_row"] == "3"
    assert (rows[0]["field"], rows[0]["value"], rows[0]["kind"], rows[0]["target"]) == (
        "dob", "1.4.1981", "bad_date", "date_of_birth")
    assert len(rows) == len(report.problems) == 3


def test_valid_rows_drops_an_orphan_repeat_row_and_keeps_the_rest(store, settlement, tmp_path):
    main_rows = households(2)
    member_rows = members(main_rows)
    member_rows[0]["PARENT_KEY"] = ""
    files, media = write_export(tmp_path, main_rows, member_rows)
    report = import_submissions(store, files, mapping(), media_dir=media, mode="valid_rows")
    problem = problem_at(report, MEMBERS_FILE, 2)
    assert (problem.kind, problem.field) == ("orphan_repeat", "PARENT_KEY")
    assert "belongs to no submission" in problem.reason
    assert (report.imported, report.rejected) == (2, 0)
    assert store.parties.count() == 5


def test_a_repeated_or_missing_submission_key_is_reported(store, settlement, tmp_path):
    main_rows = households(4)
    main_rows[2]["KEY"] = main_rows[0]["KEY"]
    main_rows[3]["KEY"] = ""
    files, media = write_export(tmp_path, main_rows, members(main_rows[:2]))
    report = import_submissions(store, files, mapping(), media_dir=media, mode="valid_rows")
    repeated, missing = problem_at(report, MAIN_FILE, 4), problem_at(report, MAIN_FILE, 5)
    assert (repeated.kind, repeated.field, repeated.value) == (
        "duplicate_key", "KEY", main_rows[0]["KEY"])
    assert "first in row 2" in repeated.reason
    assert (missing.kind, missing.field, missing.value) == ("missing_key", "KEY", "")
    assert (report.submissions_seen, report.imported, report.rejected) == (4, 2, 2)


def test_a_row_with_more_cells_than_the_header_is_refused(store, settlement, tmp_path):
    files, media = write_export(tmp_path)
    with open(files[1], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    lines[3] += ",surprise"
    with open(files[1], "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    report = import_submissions(store, files, mapping(), media_dir=media)
    problem = problem_at(report, MEMBERS_FILE, 4)
    assert problem.kind == "bad_row" and "10 cells" in problem.reason
    assert store.parties.count() == 0
