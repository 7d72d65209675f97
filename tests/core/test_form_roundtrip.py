"""Round trip: our form goes out as XLSForm, phones answer it, the answers come back.

The synthetic ODK Central export is built from the exported XLSForm itself
(its groups and repeat give the column names), with geoshapes and photos;
the import uses the mapping derived from the form. The store must then hold
exactly what was submitted: every household, member, claim, parcel shape
and file, nothing more.
"""
import csv
import hashlib
import pathlib
import random
import uuid
from fractions import Fraction

import openpyxl
import pytest
from pyproj import Transformer
from shapely.geometry import Polygon

from stdm_plugin.core import Settlement
from stdm_plugin.core.forms.forms import load_form
from stdm_plugin.core.forms.xlsform import export_xlsform
from stdm_plugin.core.submissions.form_mapping import mapping_from_form
from stdm_plugin.core.submissions.submissions import import_submissions

FORM = load_form(pathlib.Path(__file__).resolve().parents[2] / "forms" / "enumeration.yaml")
FIRST = ["Awa", "Issa", "Mariam", "Yao", "Fatou", "Seydou", "Adjoua", "Koffi"]
LAST = ["Koné", "Traoré", "Kouassi", "Bamba"]


def columns_of(xlsform):
    """Main and repeat columns as ODK Central names them: group path joined by '-'."""
    sheet = openpyxl.load_workbook(xlsform)["survey"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    main, repeat, path, in_repeat = [], [], [], False
    for row in sheet.iter_rows(min_row=2, values_only=True):
        kind, name = row[header.index("type")], row[header.index("name")]
        if kind in ("begin_group", "begin group"):
            path.append(name)
        elif kind in ("end_group", "end group"):
            path.pop()
        elif kind in ("begin_repeat", "begin repeat"):
            path.append(name)
            in_repeat, repeat_path = True, list(path)
        elif kind in ("end_repeat", "end repeat"):
            path.pop()
            in_repeat = False
        elif kind not in ("start", "end", "note"):
            prefix = path[len(repeat_path):] if in_repeat else path
            (repeat if in_repeat else main).append("-".join([*prefix, name]))
    return main, repeat


def odk_shape(polygon):
    to_wgs84 = Transformer.from_crs(32630, 4326, always_xy=True)
    points = []
    for x, y in polygon.exterior.coords:
        lon, lat = to_wgs84.transform(x, y)
        points.append(f"{lat:.9f} {lon:.9f} 12.0 4.5")
    return ";".join(points)


def submissions(rng, media):
    """Five households as an enumerator would have submitted them (values and files)."""
    made = []
    for h in range(5):
        x, y = 400000 + 40 * h, 590000
        shape = Polygon([(x, y), (x + 18, y + 1), (x + 17, y + 16), (x + 1, y + 15)])
        photo = media / f"parcel-{h}.jpg"
        photo.write_bytes(b"\xff\xd8\xff\xe0" + rng.randbytes(200))
        members = []
        owners = rng.randint(1, 3)
        for m in range(rng.randint(2, 5)):
            member = {"first_name": rng.choice(FIRST), "last_name": LAST[h % len(LAST)],
                      "sex": rng.choice(["female", "male"]),
                      "household_role": "head" if m == 0 else "child",
                      "date_of_birth": "" if m % 2 else f"{1960 + 7 * m}-0{1 + m}-1{m}",
                      "age_years": str(20 + m) if m % 2 else ""}
            if m == 0:
                member.update(id_document_type="national_id", id_document_number=f"CI{h}{m}999",
                              id_photo=f"id-{h}-{m}.jpg")
                (media / member["id_photo"]).write_bytes(b"\xff\xd8\xff" + rng.randbytes(90))
            if m < owners:
                member.update({"tenure-tenure_type": "co_owner" if owners > 1 else "owner",
                               "tenure-share_numerator": "1",
                               "tenure-share_denominator": str(owners),
                               "tenure-tenure_start": "2010-05-01",
                               "tenure-evidence": "Attestation"})
            members.append(member)
        made.append({"KEY": f"uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                     "household-household_name": f"Famille {LAST[h % len(LAST)]} {h}",
                     "parcel-parcel_boundary": odk_shape(shape), "parcel-land_use": "mixed",
                     "parcel-address": f"Bloc {h}", "parcel-parcel_photo": photo.name,
                     "shape": shape, "members": members})
    return made


def write_export(folder, made, main_columns, member_columns):
    with open(folder / "stdm_enumeration.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["SubmissionDate", *main_columns, "KEY",
                                         "FormVersion"])
        writer.writeheader()
        for sub in made:
            writer.writerow({"SubmissionDate": "2026-11-20T10:00:00.000Z",
                             "FormVersion": FORM.version,
                             **{c: sub.get(c, "") for c in main_columns}, "KEY": sub["KEY"]})
    with open(folder / "stdm_enumeration-members.csv", "w", newline="",
              encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [*member_columns, "PARENT_KEY", "KEY"])
        writer.writeheader()
        for sub in made:
            for i, member in enumerate(sub["members"], start=1):
                writer.writerow({**{c: member.get(c, "") for c in member_columns},
                                 "PARENT_KEY": sub["KEY"], "KEY": f"{sub['KEY']}/members[{i}]"})


def test_export_answer_import_gives_back_exactly_what_was_submitted(store, tmp_path):
    store.settlements.add(Settlement(code="KOU", name="Koumassi"))
    xlsform = export_xlsform(FORM, tmp_path / "stdm_enumeration.xlsx")
    main_columns, member_columns = columns_of(xlsform)
    assert "parcel-parcel_boundary" in main_columns and "tenure-share_numerator" in (
        member_columns)
    media = tmp_path / "media"
    media.mkdir()
    made = submissions(random.Random(7), media)
    write_export(tmp_path, made, main_columns, member_columns)
    files = [tmp_path / "stdm_enumeration.csv", tmp_path / "stdm_enumeration-members.csv"]

    report = import_submissions(store, files, mapping_from_form(FORM, "KOU"), media_dir=media)
    assert report.ok, report.summary()
    assert report.imported == 5

    households = {h.group_name: h for h in store.parties.find("party_type = 'household'")}
    assert set(households) == {s["household-household_name"] for s in made}
    assert store.parties.count() == 5 + sum(len(s["members"]) for s in made)
    assert store.spatial_units.count() == 5
    for sub in made:
        household = households[sub["household-household_name"]]
        people = sorted(store.parties.members(household.id),
                        key=lambda p: (p.household_role != "head", p.created_at))
        got = sorted((p.first_name, p.last_name, p.sex, p.household_role,
                      p.date_of_birth or "", str(p.age_years or ""),
                      p.id_document_number or "") for p in people)
        want = sorted((m["first_name"], m["last_name"], m["sex"], m["household_role"],
                       m["date_of_birth"], m["age_years"], m.get("id_document_number", ""))
                      for m in sub["members"])
        assert got == want
        parcel = store.spatial_units.by_code(next(
            u.code for u in store.spatial_units.parcels() if u.address == sub["parcel-address"]))
        assert parcel.land_use == "mixed"
        assert parcel.boundary.symmetric_difference(sub["shape"]).area < 0.01  # m², 1 mm-ish
        claims = store.tenure.on_spatial_unit(parcel.id)
        owners = [m for m in sub["members"] if "tenure-tenure_type" in m]
        assert len(claims) == len(owners)
        assert store.tenure.share_total(parcel.id) == Fraction(1)
        assert {(c.tenure_type, c.start_date, c.evidence) for c in claims} == {
            (owners[0]["tenure-tenure_type"], "2010-05-01", "Attestation")}
        photos = store.documents.for_record("spatial_unit_id", parcel.id)
        expected = hashlib.sha256((tmp_path / "media" / sub["parcel-parcel_photo"])
                                  .read_bytes()).hexdigest()
        assert [(d.file_name, d.sha256) for d in photos] == [(sub["parcel-parcel_photo"],
                                                               expected)]
    assert store.documents.count() == 5 + 5  # a parcel photo and a head's ID each

    again = import_submissions(store, files, mapping_from_form(FORM, "KOU"), media_dir=media)
    assert (again.imported, again.skipped) == (0, 5)
    assert store.parties.count() == 5 + sum(len(s["members"]) for s in made)


@pytest.mark.parametrize("flavour,separator", [("odk_central", "-"), ("kobo", "/")])
def test_the_derived_mapping_names_columns_like_the_server(flavour, separator):
    mapping = mapping_from_form(FORM, "KOU", flavour)
    parcel = next(r for r in mapping.main.records if r.type == "parcel")
    assert parcel.geometry[0].column == f"parcel{separator}parcel_boundary"
    claim = next(r for r in mapping.repeats[0].records if r.type == "tenure")
    assert claim.only_if == f"tenure{separator}tenure_type"
