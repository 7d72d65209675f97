"""Exports for the cadastre (issue #6 point 3, #7 point 4), on both backends: round trips
in every format and several CRSs, Shapefile names, the data dictionary, personal data
left out or pseudonymised (never in a log or a message), the change set since a date,
unknown CRSs, and exports that appear whole or not at all."""
from __future__ import annotations

import csv
import json
import logging
import os
import time
import traceback

import fiona
import pytest
from certificate_samples import (
    FakeRender,
    adjudicate,
    parcel_with_claims,
    settlement,
    with_people,
)
from fiona.collection import Collection
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, box, shape
from shapely.ops import transform

from stdm_plugin.core import Party, Settlement, SocialTenure, SpatialUnit
from stdm_plugin.core.certificates.certificates import issue_certificate
from stdm_plugin.core.exchange.export import export_changes, export_store
from stdm_plugin.core.exchange.formats import short_names
from stdm_plugin.core.store.errors import ExportError, ExportTargetExistsError, UnknownCrsError
from stdm_plugin.core.store.redaction import redact
from stdm_plugin.core.store.store import utc_now

FORMATS = ("gpkg", "shp", "geojson", "csv")
CRSS = (32630, 4326, 3857)
IDS = ("CI0012345678", "DEMO643215764", "C 0098 7654 32")
PHONES = ("+225 07 98 99 76 20", "+225 05 44 33 22 11", "07.07.12.34.56")
NAMES = ("Koné", "Traoré", "Famille Koné")
TOLERANCE_M = 0.01


# --- the store exported ------------------------------------------------------------------
@pytest.fixture
def filled(store, tmp_path):
    """Two parcels with claims (one certified), structures with and without a footprint,
    and a household whose members have ID and phone numbers."""
    with_people(store)
    site = settlement(store)
    certified, claims = parcel_with_claims(store, site, 0)
    adjudicate(store, site, [c.id for c in claims])
    issue_certificate(store, certified.id, FakeRender(), str(tmp_path / "pdf"),
                      today="2026-03-01")
    home = store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, land_use="mixed", block="B2",
        address="Rue 12, près du marché", remarks=f"owner's son: call {PHONES[2]}",
        boundary=MultiPolygon([box(400100, 590000, 400130, 590020),
                               box(400140, 590000, 400150, 590010)])))
    store.spatial_units.add(SpatialUnit(
        kind="structure", settlement_id=site.id, parcel_id=home.id, land_use="residential",
        boundary=box(400105, 590005, 400115, 590015)))
    store.spatial_units.add(SpatialUnit(kind="structure", settlement_id=site.id,
                                        parcel_id=home.id, location=Point(400120, 590012)))
    family = store.parties.add(Party(party_type="household", group_name=NAMES[2],
                                     answers=f'{{"other_phone": "{PHONES[1]}"}}'))
    head = store.parties.add(Party(
        first_name="Awa", last_name=NAMES[0], sex="female", household_role="head",
        group_party_id=family.id, date_of_birth="1980-05-02", id_document_type="national_id",
        id_document_number=IDS[0], phone=PHONES[0], remarks=f"second phone {PHONES[1]}"))
    spouse = store.parties.add(Party(
        first_name="Moussa", last_name=NAMES[1], sex="male", household_role="spouse",
        group_party_id=family.id, age_years=47, id_document_type="voter_card",
        id_document_number=IDS[1]))
    store.parties.add(Party(first_name="Fatou", last_name=NAMES[0], sex="female",
                            household_role="child", group_party_id=family.id,
                            id_document_type="birth_certificate",
                            id_document_number=IDS[2]))
    for party, kind in ((head, "owner"), (spouse, "co_owner")):
        store.tenure.add(SocialTenure(
            party_id=party.id, spatial_unit_id=home.id, tenure_type=kind,
            share_numerator=1, share_denominator=2, start_date="2009-06-01",
            evidence=f"sale agreement; seller's ID {IDS[1]}"))
    return store


@pytest.fixture
def out(tmp_path):
    """The folder exports go to (the store and its certificates' PDFs live elsewhere)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def expected_records(store, layer):
    find = {"parcels": lambda: store.spatial_units.parcels(),
            "structures": lambda: [s for s in store.spatial_units.structures()
                                   if s.boundary is not None],
            "structure_points": lambda: store.spatial_units.structures(),
            "parties": lambda: store.parties.find(),
            "tenure": lambda: store.tenure.find(),
            "certificates": lambda: store.certificates.find()}[layer]
    return {r.id: r for r in find()}


def read_back(result, layer):
    """(geometry in the file's CRS or None, properties) of every feature of ``layer``."""
    path = result.layer_files[layer]
    options = {"layer": layer} if path.endswith(".gpkg") else {}
    if path.endswith(".geojson"):
        options["DATE_AS_STRING"] = "YES"
    with fiona.open(path, **options) as collection:
        return [(shape(f.geometry) if f.geometry else None, dict(f.properties))
                for f in collection]


def to_store_crs(geometry, srid):
    if srid == 32630:
        return geometry
    back = Transformer.from_crs(srid, 32630, always_xy=True).transform
    return transform(back, geometry)


def same_geometry(got, wanted):
    """Same parts, each vertex within the tolerance (rings may start elsewhere or turn the
    other way: RFC 7946 and the Shapefile each have their own winding rule)."""
    def parts(g):
        return list(g.geoms) if g.geom_type == "MultiPolygon" else [g]
    return (len(parts(got)) == len(parts(wanted))
            and sum(len(p.exterior.coords) for p in parts(got))
            == sum(len(p.exterior.coords) for p in parts(wanted))
            and got.hausdorff_distance(wanted) < TOLERANCE_M
            and abs(got.area - wanted.area) <= wanted.length * TOLERANCE_M)


def same_value(got, wanted, text_nulls_are_empty):
    if text_nulls_are_empty and wanted in (None, "") and got in (None, ""):
        return True
    if isinstance(got, dict):  # GDAL writes JSON text into GeoJSON as an object
        return got == json.loads(wanted)
    if isinstance(wanted, float):
        return got == pytest.approx(wanted, rel=1e-9)
    return got == wanted


# --- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_in_each_crs_gives_back_geometries_and_attributes(filled, out, fmt):
    for srid in CRSS:
        result = export_store(filled, out / f"{fmt}-{srid}", format=fmt, crs=srid,
                              personal_data="include")
        assert result.crs == f"EPSG:{srid}" and result.pseudonym_key is None
        assert set(result.feature_counts) == {"parcels", "structures", "structure_points",
                                              "parties", "tenure", "certificates"}
        for layer, names in result.field_names.items():
            wanted = expected_records(filled, layer)
            features = read_back(result, layer)
            assert len(features) == len(wanted) == result.feature_counts[layer], layer
            text_nulls = fmt in ("shp", "csv")
            for geometry, properties in features:
                record = wanted[properties[names["id"]]]
                for column, field in names.items():
                    assert same_value(properties[field], getattr(record, column),
                                      text_nulls), (fmt, srid, layer, column)
                source = {"structure_points": "location"}.get(layer, "boundary")
                if layer in ("parties", "tenure", "certificates"):
                    assert geometry is None
                elif source == "location":
                    assert to_store_crs(geometry, srid).distance(record.location) < TOLERANCE_M
                else:
                    assert same_geometry(to_store_crs(geometry, srid), record.boundary), (
                        fmt, srid, layer, record.code)
    assert filled.certificates.count() == 1 and result.feature_counts["certificates"] == 1


def test_files_say_their_crs(filled, out):
    from pyproj import CRS

    for fmt in ("gpkg", "shp", "geojson"):
        for srid in CRSS:
            result = export_store(filled, out / f"{fmt}-{srid}", format=fmt, crs=srid,
                                  layers=["parcels"])
            options = {"layer": "parcels"} if fmt == "gpkg" else {}
            with fiona.open(result.layer_files["parcels"], **options) as collection:
                assert CRS.from_wkt(collection.crs_wkt).equals(CRS.from_epsg(srid),
                                                               ignore_axis_order=True), (
                    fmt, srid)
            if fmt == "shp":
                stem = result.layer_files["parcels"][:-4]
                assert open(stem + ".cpg").read().strip().upper() in ("UTF-8", "UTF8")
                assert os.path.getsize(stem + ".prj") > 0


def test_geojson_outside_wgs84_carries_a_crs_member_and_a_warning(filled, out):
    plain = export_store(filled, out / "wgs84", format="geojson", crs=4326)
    utm = export_store(filled, out / "utm", format="geojson", crs="EPSG:32630")
    assert plain.warnings == [] and '"crs"' not in open(plain.layer_files["parcels"]).read()
    assert "urn:ogc:def:crs:EPSG::32630" in open(utm.layer_files["parcels"]).read()
    assert len(utm.warnings) == 1 and "RFC 7946" in utm.warnings[0]
    assert "RFC 7946" in open(utm.dictionary_path, encoding="utf-8").read()


def test_shapefile_field_names_fit_dbf_and_are_unique_and_stable(filled, out):
    first = export_store(filled, out / "a", format="shp", personal_data="include")
    again = export_store(filled, out / "b", format="shp", personal_data="include")
    assert first.field_names == again.field_names
    for layer, names in first.field_names.items():
        fields = list(names.values())
        assert all(len(f) <= 10 for f in fields), layer
        assert len({f.casefold() for f in fields}) == len(fields), layer
    assert first.field_names["tenure"]["share_numerator"] == "share_num"
    assert first.field_names["tenure"]["share_denominator"] == "share_den"
    assert first.field_names["parties"]["id_document_number"] == "id_number"
    with fiona.open(first.layer_files["parcels"]) as collection:
        assert all(len(f) <= 10 for f in collection.schema["properties"])
    assert first.layer_files["tenure"].endswith("tenure.csv")


def test_short_names_collision_rule():
    names = short_names(["abcdefghijkl", "abcdefghijxx", "ABCDEFGHIJ", "id", "share_numerator"])
    assert names == {"abcdefghijkl": "abcdefghij", "abcdefghijxx": "abcdefgh_2",
                     "ABCDEFGHIJ": "ABCDEFGH_3", "id": "id", "share_numerator": "share_num"}


def test_long_text_is_cut_for_the_shapefile_with_a_warning(filled, out):
    parcel = filled.spatial_units.parcels()[0]
    filled.spatial_units.update(parcel.id, address="é" * 300)
    result = export_store(filled, out / "shp", format="shp", layers=["parcels"])
    with fiona.open(result.layer_files["parcels"]) as collection:
        cut = [f.properties["address"] for f in collection if f.properties["id"] == parcel.id]
    assert cut == ["é" * 127]
    assert any("parcels.address" in w and "cut" in w for w in result.warnings)


# --- the data dictionary -----------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_dictionary_lists_every_field_with_meaning_codes_and_crs(filled, out, fmt):
    result = export_store(filled, out / "out", format=fmt, crs=4326,
                          personal_data="omit")
    with open(result.dictionary_csv_path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for layer in result.field_names:
        listed = {r["field"] for r in rows if r["layer"] == layer and r["field"]}
        geometry, properties = read_back(result, layer)[0] if result.feature_counts[layer] \
            else (None, {})
        if properties:
            in_file = set(properties) | ({"WKT"} if "WKT" in listed else set())
            if "(geometry)" in listed:
                in_file.add("(geometry)")
            assert listed == in_file, layer
        assert all(r["meaning"] for r in rows if r["layer"] == layer)
    tenure_type = next(r for r in rows if r["source"] == "social_tenure.tenure_type")
    assert "owner = Owner / Propriétaire" in tenure_type["codes"]
    land_use = next(r for r in rows if r["source"] == "spatial_unit.land_use"
                    and r["layer"] == "parcels")
    assert "residential = Residential / Résidentiel" in land_use["codes"]
    phone = next(r for r in rows if r["source"] == "party.phone")
    assert phone["field"] == "" and "left out" in phone["personal_data"]
    geometry_row = next(r for r in rows if r["layer"] == "parcels"
                        and r["source"] == "spatial_unit.boundary")
    assert "EPSG:4326" in geometry_row["type"]
    markdown = open(result.dictionary_path, encoding="utf-8").read()
    assert "EPSG:4326" in markdown and "## parcels" in markdown and "share_" in markdown


# --- personal data -----------------------------------------------------------------------
def secrets_in(data: bytes) -> list[str]:
    """The ID numbers, phone numbers (as written or as bare digits) found in ``data``."""
    found = []
    for value in IDS + PHONES:
        digits = "".join(c for c in value if c.isdigit())
        for form in {value, digits, value.replace(" ", "")}:
            if form.encode("utf-8") in data:
                found.append(form)
    return found


def all_bytes(paths) -> bytes:
    data = b""
    for path in paths:
        with open(path, "rb") as handle:
            data += handle.read()
    return data


def test_redact_masks_id_and_phone_numbers_but_keeps_ids_and_dates():
    for value in IDS + PHONES + ("0707123456", "(+225) 0707 1234 56"):
        assert not secrets_in(redact(f"Person {value} refused").encode()), value
    kept = "record 3f2a9c0e-1b7d-4a55-8b2c-0123456789ab at 2026-03-01T10:00:00.123Z, KOU-P00012"
    assert redact(kept) == kept


@pytest.mark.parametrize("mode", ["omit", "pseudonymise"])
def test_no_id_or_phone_number_in_any_file_log_or_message(filled, out, caplog, mode,
                                                          monkeypatch):
    caplog.set_level(logging.DEBUG)
    written, messages = [], []
    for fmt in FORMATS:
        result = export_store(filled, out / fmt, format=fmt, crs=4326,
                              personal_data=mode)
        written += result.files
        messages += result.warnings
    changes = export_changes(filled, "2000-01-01", out / "changes", format="csv",
                             personal_data=mode)
    written += changes.files
    assert len(written) > 20
    assert all(os.path.dirname(p).startswith(str(out)) for p in written)
    assert sorted(written) == sorted(str(p) for p in out.rglob("*")
                                     if p.is_file())
    data = all_bytes(written)
    assert secrets_in(data) == []
    if mode == "omit":
        assert not any(name.encode() in data for name in NAMES)
    # failures quote nothing either, even when the writing library quotes the record
    for bad in (dict(crs="EPSG:999999"), dict(format="xls"), dict(layers=[IDS[0]]),
                dict(settlement_id=PHONES[0]), dict(pseudonym_key=IDS[1])):
        with pytest.raises(Exception) as refused:
            export_store(filled, out / "bad", personal_data="pseudonymise", **bad)
        messages += traceback.format_exception(refused.type, refused.value, refused.tb)
    with pytest.raises(ExportError) as refused:
        export_changes(filled, PHONES[1], out / "bad")
    messages += traceback.format_exception(refused.type, refused.value, refused.tb)

    def quoting(self, records):
        raise RuntimeError(f"cannot write {list(records)}")
    monkeypatch.setattr(Collection, "writerecords", quoting)
    with pytest.raises(ExportError) as failed:
        export_store(filled, out / "failing", format="gpkg", personal_data="include")
    messages += traceback.format_exception(failed.type, failed.value, failed.tb)
    messages += [r.getMessage() for r in caplog.records]
    assert caplog.records and any("failed" in m for m in messages)
    assert secrets_in("\n".join(messages).encode("utf-8")) == []


def test_included_personal_data_is_there_and_said_to_be(filled, out):
    """The scan above finds what is there: with ``include`` the numbers are written."""
    result = export_store(filled, out / "all", format="csv", personal_data="include")
    assert len(set(secrets_in(all_bytes(result.files)))) >= len(IDS) + len(PHONES)
    with open(result.dictionary_csv_path, encoding="utf-8") as handle:
        rows = {r["source"]: r for r in csv.DictReader(handle) if r["layer"] == "parties"}
    assert rows["party.phone"]["personal_data"] == "personal data, included"
    assert rows["party.sex"]["personal_data"] == ""


def test_pseudonyms_are_stable_per_key_and_replace_birth_dates_by_age(filled, out):
    twin = filled.parties.add(Party(first_name="Awa", last_name=NAMES[0],
                                    id_document_type="national_id",
                                    id_document_number=IDS[0].lower()[:2] + " " + IDS[0][2:],
                                    phone=PHONES[0].replace(" ", "")))
    first = export_store(filled, out / "a", format="gpkg", personal_data="pseudonymise")
    again = export_store(filled, out / "b", format="gpkg", personal_data="pseudonymise",
                         pseudonym_key=first.pseudonym_key)
    other = export_store(filled, out / "c", format="gpkg", personal_data="pseudonymise")
    assert first.pseudonym_key and len(bytes.fromhex(first.pseudonym_key)) == 32

    def parties(result):
        return {p["id"]: p for _, p in read_back(result, "parties")}

    a, b, c = parties(first), parties(again), parties(other)
    head = next(p for p in filled.parties.find() if p.date_of_birth)
    assert a[twin.id]["id_document_number"] == a[head.id]["id_document_number"]
    assert a[twin.id]["phone"] == a[head.id]["phone"]
    assert a[head.id]["id_document_number"].startswith("ID-")
    assert len(a[head.id]["id_document_number"]) == 19
    assert a[head.id]["first_name"].startswith("FN-") and a[head.id]["phone"].startswith("PH-")
    assert a == b and a[head.id]["phone"] != c[head.id]["phone"]
    assert "date_of_birth" not in a[head.id] and "remarks" not in a[head.id]
    assert 44 <= a[head.id]["age_years"] <= 47
    spouse = next(p for p in filled.parties.find() if p.age_years == 47)
    assert a[spouse.id]["age_years"] == 47
    claims = {t["party_id"] for _, t in read_back(first, "tenure")}
    assert head.id in claims and spouse.id in claims  # party ids kept: joins still work


def test_omit_drops_personal_columns_and_masks_free_text(filled, out):
    result = export_store(filled, out / "omit", format="geojson")
    assert result.personal_data == "omit"
    party_fields = set(result.field_names["parties"])
    assert not party_fields & {"first_name", "last_name", "group_name", "date_of_birth",
                               "id_document_number", "phone", "remarks", "answers"}
    assert {"id", "sex", "age_years", "household_role", "group_party_id"} <= party_fields
    assert "snapshot" not in result.field_names["certificates"]
    remarks = [p["remarks"] for _, p in read_back(result, "parcels") if p["remarks"]]
    assert remarks == ["owner's son: call [redacted]"]
    evidence = {p["evidence"] for _, p in read_back(result, "tenure") if p["evidence"]}
    assert evidence == {"sale agreement; seller's ID DEMO[redacted]"}


# --- settlement, retired records ---------------------------------------------------------
def test_one_settlement_with_its_holders_and_their_households(filled, out):
    other = filled.settlements.add(Settlement(code="ADJ", name="Adjamé"))
    lone = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=other.id, boundary=box(401000, 590000, 401010, 590010)))
    tenant = filled.parties.add(Party(first_name="Kofi", last_name="Mensah"))
    filled.tenure.add(SocialTenure(party_id=tenant.id, spatial_unit_id=lone.id,
                                   tenure_type="tenant"))
    kou = settlement(filled)
    mine = export_store(filled, out / "kou", format="csv", settlement_id=kou.id)
    theirs = export_store(filled, out / "adj", format="csv", settlement_id=other.id)
    assert mine.feature_counts["parcels"] == 2 and theirs.feature_counts["parcels"] == 1
    assert theirs.feature_counts["parties"] == 1 and theirs.feature_counts["tenure"] == 1
    party_ids = {p["id"] for _, p in read_back(mine, "parties")}
    assert tenant.id not in party_ids
    assert len(party_ids) == filled.parties.count() - 1  # the household's child included
    assert theirs.feature_counts["certificates"] == 0 and mine.feature_counts["certificates"]


def test_retired_records_only_when_asked(filled, out):
    site = settlement(filled)
    gone = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(402000, 590000, 402010, 590010)))
    filled.spatial_units.retire(gone.id)
    now = export_store(filled, out / "now", format="gpkg", layers=["parcels"])
    ever = export_store(filled, out / "ever", format="gpkg", layers=["parcels"],
                        include_retired=True)
    assert ever.feature_counts["parcels"] == now.feature_counts["parcels"] + 1
    retired = [p for _, p in read_back(ever, "parcels") if p["id"] == gone.id]
    assert retired[0]["end_lifespan_version"]


# --- change set --------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["gpkg", "shp"])
def test_change_set_since_a_date(filled, out, fmt):
    site = settlement(filled)
    parcels = filled.spatial_units.parcels()
    moved, relabelled = parcels[0], parcels[1]
    stays = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(403000, 590000, 403010, 590010)))
    doomed = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(404000, 590000, 404010, 590010)))
    time.sleep(0.01)
    since = utc_now()
    time.sleep(0.01)
    fresh = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(405000, 590000, 405010, 590010)))
    brief = filled.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=site.id, boundary=box(406000, 590000, 406010, 590010)))
    filled.spatial_units.retire(brief.id)  # created and retired since: never reached them
    filled.spatial_units.update(moved.id, boundary=box(400000, 590000, 400021, 590015))
    filled.spatial_units.update(relabelled.id, land_use="commercial")
    filled.spatial_units.retire(doomed.id)
    result = export_changes(filled, since, out / "changes", format=fmt, crs=4326)
    assert result.change_counts == {"new": 1, "modified": 2, "retired": 1}
    names = result.field_names["parcel_changes"]
    rows = {p[names["code"]]: (g, p) for g, p in read_back(result, "parcel_changes")}
    assert set(rows) == {fresh.code, moved.code, relabelled.code, doomed.code}
    assert stays.code not in rows and brief.code not in rows

    def value(code, column):
        return rows[code][1][names[column]]

    assert value(fresh.code, "change") == "new"
    assert value(doomed.code, "change") == "retired"
    assert value(doomed.code, "changed_at") == filled.spatial_units.get(
        doomed.id, include_retired=True).end_lifespan_version
    assert value(moved.code, "change") == "modified"
    assert set(value(moved.code, "changed_fields").split(";")) == {"boundary", "area_m2"}
    assert value(relabelled.code, "changed_fields") == "land_use"
    assert value(relabelled.code, "land_use") == "commercial"
    assert all(value(code, "changed_at") >= since for code in rows)
    assert same_geometry(to_store_crs(rows[moved.code][0], 4326),
                         box(400000, 590000, 400021, 590015))
    later = export_changes(filled, "2999-01-01", out / "none.gpkg")
    assert later.change_counts == {"new": 0, "modified": 0, "retired": 0}
    assert later.files[-1].endswith("none.gpkg")


def test_since_must_be_a_date(filled, out):
    with pytest.raises(ExportError, match="ISO 8601"):
        export_changes(filled, "last tuesday", out / "x")
    assert not (out / "x").exists()


# --- refusals and atomicity ---------------------------------------------------------------
@pytest.mark.parametrize("crs", ["EPSG:999999", "nonsense", 0, "EPSG:4979"])
def test_unknown_crs_is_refused_and_nothing_written(filled, out, crs):
    with pytest.raises(UnknownCrsError):
        export_store(filled, out / "out", crs=crs)
    assert list(out.iterdir()) == []


def test_other_bad_choices_are_refused(filled, out):
    for bad, match in ((dict(format="kml"), "format"), (dict(layers=["roads"]), "layer"),
                       (dict(personal_data="some"), "personal_data"),
                       (dict(settlement_id="no-such-settlement"), "no settlement"),
                       (dict(format="shp", folder_or_file=out / "x.shp"), "folder")):
        target = bad.pop("folder_or_file", out / "out")
        with pytest.raises(ExportError, match=match):
            export_store(filled, target, **bad)
    assert list(out.iterdir()) == []


def test_existing_files_are_not_replaced_unless_asked(filled, out):
    target = out / "out.gpkg"
    first = export_store(filled, target)
    before = target.read_bytes()
    with pytest.raises(ExportTargetExistsError):
        export_store(filled, target, layers=["parcels"])
    assert target.read_bytes() == before
    second = export_store(filled, target, layers=["parcels"], overwrite=True)
    assert fiona.listlayers(str(target)) == ["parcels"]
    assert second.files == [str(out / n) for n in
                            ("out_dictionary.csv", "out_dictionary.md", "out.gpkg")]
    assert len(first.files) == 3


def failing_after(monkeypatch, count):
    """Every write through fiona fails once ``count`` features are written, one at a time."""
    from stdm_plugin.core.exchange import formats as exchange_formats

    monkeypatch.setattr(exchange_formats, "WRITE_BATCH", 1)
    real = Collection.writerecords
    written = []

    def writerecords(self, records):
        records = list(records)
        if len(written) + len(records) > count:
            raise OSError("No space left on device")
        written.extend(records)
        return real(self, records)

    monkeypatch.setattr(Collection, "writerecords", writerecords)


def snapshot(folder):
    """Every file and folder under ``folder`` (hidden ones too), with the files' bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson"])
def test_a_write_failing_half_way_leaves_nothing(filled, out, monkeypatch, fmt):
    fresh, existing = out / "new", out / "kept"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    (existing / "data_dictionary.md").write_text("an older export")
    before = snapshot(out)
    failing_after(monkeypatch, 4)
    targets = [(fresh, False), (existing, True)]
    if fmt == "gpkg":
        targets.append((out / "one.gpkg", True))
    for target, overwrite in targets:
        with pytest.raises(ExportError, match="nothing was written"):
            export_store(filled, target, format=fmt, overwrite=overwrite)
        assert snapshot(out) == before
    assert not fresh.exists()


def test_a_failure_after_the_data_leaves_nothing(filled, out, monkeypatch):
    from stdm_plugin.core.exchange import export as exchange_export

    def broken(*args, **kwargs):
        raise OSError("disk full while writing the dictionary")

    monkeypatch.setattr(exchange_export, "write_dictionary", broken)
    with pytest.raises(ExportError):
        export_store(filled, out / "csv", format="csv")
    assert list(out.iterdir()) == []


def test_a_rename_failing_half_way_puts_the_old_files_back(filled, out, monkeypatch):
    from stdm_plugin.core.exchange import files as exchange_files

    target = out / "out"
    export_store(filled, target, format="csv", layers=["parcels"])
    before = snapshot(out)
    real, calls = os.replace, []

    def flaky(source, destination):
        calls.append(destination)
        if len(calls) == 5:
            raise OSError("the network share went away")
        return real(source, destination)

    monkeypatch.setattr(exchange_files.os, "replace", flaky)
    with pytest.raises(ExportError):
        export_store(filled, target, format="csv", layers=["parcels"], overwrite=True)
    monkeypatch.undo()
    assert snapshot(out) == before
    assert len(calls) > 5  # the fifth rename failed; the others put the old files back
