"""The real KoBoToolbox export from Abidjan (2022): 567 households, 2,498 persons.

Read from ../shared/data/kobo_abidjan_2022 as it is (never modified). The
export is anonymised and has no geometry: every party is anonymised, and
every household is flagged for mapping.
"""
import csv
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from stdm_plugin.core.submissions.mapping import FieldMapping
from stdm_plugin.core.submissions.submissions import import_submissions

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "kobo_abidjan_2022"
MAPPING_PATH = ROOT / "forms" / "mappings" / "kobo_abidjan_2022.yaml"
HOUSEHOLDS = DATA / "household_data_abidjan.csv"
PERSONS = DATA / "individual_data_abidjan.csv"
ROLES = {"Head": "head", "W_H": "spouse", "S_D": "child", "Par": "parent",
         "GndC": "other_relative", "Other": "other_relative", "Nrel": "non_relative", "": None}

pytestmark = pytest.mark.skipif(not HOUSEHOLDS.exists(),
                                reason=f"the sample data is not at {DATA}")


def read(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_abidjan_export_imports_completely(store, record_property):
    households, persons = read(HOUSEHOLDS), read(PERSONS)
    mapping = FieldMapping.load(MAPPING_PATH)
    started = time.perf_counter()
    report = import_submissions(store, [HOUSEHOLDS, PERSONS], mapping)
    seconds = time.perf_counter() - started
    record_property("abidjan_import_seconds", round(seconds, 3))
    print(f"\nAbidjan import on {store.db.dialect}: {seconds:.2f}s")

    # every row imports, so the report has nothing to explain and the counts are exact
    assert report.problems == []
    assert (report.submissions_seen, report.imported, report.rejected) == (567, 567, 0)
    assert report.rows_read == {HOUSEHOLDS.name: 567, PERSONS.name: 2498}
    assert report.created == {"submission": 567, "party": 567 + 2498, "spatial_unit": 0,
                              "social_tenure": 0, "supporting_document": 0}
    assert report.households_needing_mapping == 567

    db = store.db
    counts = db.query("SELECT party_type, count(*) AS n, sum(anonymised) AS anon, "
                      "sum(needs_mapping) AS unmapped FROM party GROUP BY party_type "
                      "ORDER BY party_type")
    assert [(r["party_type"], r["n"], r["anon"], r["unmapped"]) for r in counts] == [
        ("household", 567, 567, 567), ("person", 2498, 2498, 0)]

    # each person is linked to the household of its KEY, no more and no fewer per household
    linked = db.query("SELECT h.submission_id AS key, count(*) AS n FROM party p "
                      "JOIN party h ON h.id = p.group_party_id "
                      "WHERE p.party_type = 'person' GROUP BY h.submission_id")
    assert {r["key"]: r["n"] for r in linked} == Counter(p["KEY"] for p in persons)
    assert db.scalar("SELECT count(*) FROM party WHERE party_type = 'person' AND "
                     "submission_id <> (SELECT h.submission_id FROM party h "
                     "WHERE h.id = party.group_party_id)") == 0

    # roles and sexes faithful to the form's codes; the original role stays in answers
    people = db.query("SELECT household_role, sex, answers FROM party "
                      "WHERE party_type = 'person'")
    assert Counter(p["household_role"] for p in people) == Counter(
        ROLES[p["Relation_to_HH"]] for p in persons)
    assert Counter(p["sex"] for p in people) == Counter(
        {"M": "male", "F": "female"}[p["Sex"]] for p in persons)
    kept = [json.loads(p["answers"]) for p in people]
    assert Counter(k.get("Relation_to_HH", "") for k in kept) == Counter(
        p["Relation_to_HH"] for p in persons)
    assert Counter(k["Age_group"] for k in kept) == Counter(p["Age_group"] for p in persons)
    assert all(set(k) <= {"City", "Site", "Relation_to_HH", "School_past", "Diarrhoea",
                          "Age_group"} for k in kept)

    # the households keep every answer no field took, exactly as exported
    by_key = {h["KEY"]: h for h in households}
    for row in db.query("SELECT submission_id, answers FROM party "
                        "WHERE party_type = 'household'"):
        source = by_key[row["submission_id"]]
        expected = {k: v for k, v in source.items() if k not in ("", "KEY") and v != ""}
        assert json.loads(row["answers"]) == expected


def test_importing_the_abidjan_export_again_adds_nothing(store):
    mapping = FieldMapping.load(MAPPING_PATH)
    import_submissions(store, [HOUSEHOLDS, PERSONS], mapping)
    audit = store.db.scalar("SELECT count(*) FROM audit_log")
    again = import_submissions(store, [HOUSEHOLDS, PERSONS], mapping)
    assert (again.imported, again.skipped, again.problems) == (0, 567, [])
    assert store.parties.count() == 3065
    assert store.db.scalar("SELECT count(*) FROM audit_log") == audit
