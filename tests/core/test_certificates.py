"""The certificate register (issue "Occupancy certificates", points 5 and 6), on both backends:
issuing from approved claims, gap-free numbers, refusals, roles, batches, reprint,
revocation, supersession, and several land officers issuing at once."""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import re
from fractions import Fraction

import pytest
import shapely
from certificate_samples import (
    KEY_PASSPHRASE,
    PASSWORD,
    TODAY,
    FakeRender,
    adjudicate,
    approved_parcels_for_test,
    as_user,
    parcel_with_claims,
    pdfs_in,
    settlement,
    with_people,
)
from shapely.geometry import Polygon

from stdm_plugin.core import Party, SocialTenure, ValidationError
from stdm_plugin.core.adjudication.adjudication import (
    claim_events,
    record_objection,
    return_to_enumeration,
)
from stdm_plugin.core.certificates.batch import approved_parcels, issue_batch
from stdm_plugin.core.certificates.certificates import (
    certificate_history,
    find_certificate,
    issue_certificate,
    reprint,
    revoke,
    supersede,
)
from stdm_plugin.core.certificates.office_keys import (
    OfficeKeyLockedError,
    active_office_key,
    create_office_key,
    export_public_keys,
    office_keys,
    unlock_office_key,
)
from stdm_plugin.core.certificates.signing import OfficeKeyError, verify_signature
from stdm_plugin.core.certificates.snapshot import geometry_wkb, issuing_problems
from stdm_plugin.core.certificates.verification import verify_payload
from stdm_plugin.core.store.errors import (
    CertificateRefusedError,
    CertificateStatusError,
    PermissionDeniedError,
    StdmError,
)
from stdm_plugin.core.store.users import sign_in, sign_out

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(200)) + b"\xff\xd9"


@pytest.fixture
def people(store):
    with_people(store)
    return store


@pytest.fixture
def out(tmp_path):
    return str(tmp_path / "certificates")


def counts(store) -> tuple[int, int]:
    return (store.db.scalar("SELECT count(*) FROM certificate"),
            store.db.scalar("SELECT count(*) FROM certificate_event"))


# --- the whole path ------------------------------------------------------------------------
def test_from_enumerated_claims_to_a_verified_certificate(store, out):
    with_people(store)
    site = settlement(store)
    unit, claims = parcel_with_claims(store, site, 0, holders=(
        ("Awa", "Koné", "co_owner", 1, 2), ("Moussa", "Koné", "co_owner", 1, 2)))
    store.documents.attach(JPEG, "awa.jpg", document_type="photo",
                           party_id=claims[0].party_id)
    ids = [c.id for c in claims]
    assert issuing_problems(store, unit.id) == [
        f"{unit.code}: the claim of Awa Koné (claim {ids[0][:8]}) is enumerated, not approved.",
        f"{unit.code}: the claim of Moussa Koné (claim {ids[1][:8]}) is enumerated, not "
        "approved."]
    adjudicate(store, site, ids, password="correct horse")
    assert issuing_problems(store, unit.id) == []
    render = FakeRender()

    issued = issue_certificate(store, unit.id, render, out, today=TODAY)

    year = TODAY[:4]
    assert issued.number == f"KOU-{year}-000001"
    assert issued.parcel_code == unit.code
    assert issued.pdf_path == os.path.join(out, f"KOU-{year}-000001.pdf")
    with open(issued.pdf_path, "rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF-1.4") and hashlib.sha256(pdf).hexdigest() == issued.pdf_sha256
    assert pdfs_in(out) == [f"KOU-{year}-000001.pdf"]  # no partial file left
    [sheet] = render.sheets
    assert sheet.holders_text == "Awa Koné — Co-owner (1/2)\nMoussa Koné — Co-owner (1/2)"
    assert sheet.issued_by == "Aïcha Traoré" and sheet.land_use == "Residential"
    assert sheet.qr_payload == issued.qr_payload and sheet.parcel_code == unit.code
    assert shapely.from_wkb(sheet.parcel_wkb).equals(unit.boundary)
    assert abs(sheet.area_m2 - 300) < 1
    assert render.photos == [{"Awa Koné": JPEG}]  # the photo file existed while rendering
    assert not os.path.exists(sheet.holders[0].photo_path)  # and is gone afterwards
    for claim in store.tenure.on_spatial_unit(unit.id):
        assert claim.adjudication_state == "issued"
        last = claim_events(store, claim.id)[-1]
        assert (last["to_state"], last["note"], last["role"]) == (
            "issued", issued.number, "land_officer")
    cert = find_certificate(store, issued.number)
    assert (cert.status, cert.print_count, cert.issued_by, cert.pdf_sha256) == (
        "valid", 1, "officer", issued.pdf_sha256)
    assert cert.pdf_file == f"KOU-{year}-000001.pdf" and cert.language == "en"
    [event] = certificate_history(store, issued.number)
    assert (event["event"], event["happened_by"], event["pdf_sha256"]) == (
        "issued", "officer", issued.pdf_sha256)
    checked = verify_payload(store, issued.qr_payload)
    assert checked.status == "valid" and checked.number == issued.number
    assert checked.certificate.id == cert.id


def test_snapshot_hash_and_signature(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    cert = find_certificate(store, issued.number)
    content = json.loads(cert.snapshot)
    assert cert.snapshot == json.dumps(content, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False)
    assert "Koné" in cert.snapshot  # not escaped
    assert hashlib.sha256(cert.snapshot.encode()).hexdigest() == cert.snapshot_sha256
    assert content["number"] == issued.number and content["store_id"] == store.store_id
    assert content["series"] == "KOU-2026" and content["language"] == "en"
    assert content["settlement"] == {"code": "KOU", "name": "Koumassi Campement"}
    parcel = content["parcel"]
    assert (parcel["id"], parcel["code"], parcel["block"], parcel["land_use"],
            parcel["srid"]) == (unit.id, unit.code, "B1", "residential", store.srid)
    assert parcel["area_m2"] == round(unit.area_m2, 2)
    stored = store.spatial_units.get(unit.id).boundary
    assert parcel["geometry_sha256"] == hashlib.sha256(geometry_wkb(stored)).hexdigest()
    [holder] = content["holders"]
    claim = store.tenure.on_spatial_unit(unit.id)[0]
    assert holder == {"party_id": claim.party_id, "claim_id": claim.id, "name": "Awa Koné",
                      "tenure_type": "owner", "share": "1/1"}
    assert content["issued_by"] == {"login": "officer", "full_name": "Aïcha Traoré"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", content["issued_at"])
    payload = issued.qr_payload
    assert re.fullmatch(r"STDM2\|KOU-2026-000001\|\d{4}-\d\d-\d\d\|[A-Za-z0-9_-]{43}\|"
                        r"[0-9a-f]{16}\|[A-Za-z0-9_-]{86}", payload)
    assert payload.split("|")[2] == cert.issued_at[:10] == content["issued_at"][:10]
    assert payload.split("|")[4] == cert.key_id == active_office_key(store).id
    public = active_office_key(store).public_key
    assert verify_signature(public, payload)
    from stdm_plugin.core.certificates.qr import encode

    assert encode(payload, "M").version <= 10
    keys = json.loads(export_public_keys(store))
    assert keys["keys"][0]["public_key"] == public and "private" not in json.dumps(keys)


def test_numbers_are_gap_free_and_per_series(people, out):
    store = people
    units = approved_parcels_for_test(store, 5)
    numbers = [issue_certificate(store, units[0].id, FakeRender(), out, today=TODAY).number]
    with pytest.raises(CertificateRefusedError):  # a refusal takes no number
        issue_certificate(store, units[0].id, FakeRender(), out, today=TODAY)
    with pytest.raises(RuntimeError):  # nor does a failed render
        issue_certificate(store, units[1].id, FakeRender(fail_for=(units[1].code,)), out,
                          today=TODAY)
    numbers += [issue_certificate(store, u.id, FakeRender(), out, today=TODAY).number
                for u in units[1:3]]
    assert numbers == ["KOU-2026-000001", "KOU-2026-000002", "KOU-2026-000003"]
    assert issue_certificate(store, units[3].id, FakeRender(), out, series="KOU-SPECIAL",
                             today=TODAY).number == "KOU-SPECIAL-000001"
    assert issue_certificate(store, units[4].id, FakeRender(), out,
                             today="2027-01-02").number == "KOU-2027-000001"
    with pytest.raises(ValidationError, match="series"):
        issue_certificate(store, units[4].id, FakeRender(), out, series="KOU|2026")


def test_french_certificate(people, out):
    store = people
    site = settlement(store)
    unit, claims = parcel_with_claims(store, site, 0, holders=(
        ("Awa", "Koné", "co_owner", 1, 3), ("Ali", "Koné", "heir", 2, 3)))
    adjudicate(store, site, [c.id for c in claims])
    render = FakeRender()
    issue_certificate(store, unit.id, render, out, language="fr", today=TODAY)
    assert render.sheets[0].holders_text == (
        "Ali Koné — Héritier (succession non réglée) (2/3)\n"
        "Awa Koné — Copropriétaire (1/3)")  # sorted by name
    assert render.sheets[0].land_use == "Résidentiel" and render.sheets[0].language == "fr"


# --- refusals ------------------------------------------------------------------------------
def refused(store, parcel_id, out) -> CertificateRefusedError:
    before = counts(store)
    with pytest.raises(CertificateRefusedError) as caught:
        issue_certificate(store, parcel_id, FakeRender(), out, today=TODAY)
    assert counts(store) == before and pdfs_in(out) == []
    assert caught.value.reasons == issuing_problems(store, parcel_id)
    return caught.value


def test_refused_when_a_claim_is_not_approved(people, out):
    store = people
    site = settlement(store)
    unit, claims = parcel_with_claims(store, site, 0, holders=(
        ("Awa", "Koné", "co_owner", 1, 2), ("Ali", "Koné", "co_owner", 1, 2)))
    as_user(store, "sup")
    from stdm_plugin.core.adjudication.adjudication import verify

    verify(store, [claims[1].id])
    as_user(store, "officer")
    error = refused(store, unit.id, out)
    assert error.parcel_code == unit.code
    assert error.reasons == [  # holders by name
        f"{unit.code}: the claim of Ali Koné (claim {claims[1].id[:8]}) is verified, not "
        "approved.",
        f"{unit.code}: the claim of Awa Koné (claim {claims[0].id[:8]}) is enumerated, not "
        "approved."]


def test_refused_with_an_open_objection(people, out):
    store = people
    site = settlement(store)
    unit, [claim] = parcel_with_claims(store, site, 0)
    adjudicate(store, site, [claim.id])
    record_objection(store, claim.id, "Yao Kouassi", "I bought this plot in 2015",
                     raised_on="2026-02-20")
    [reason] = refused(store, unit.id, out).reasons
    assert reason == (f"{unit.code}: the claim of Awa Koné (claim {claim.id[:8]}) has an open "
                      "objection by Yao Kouassi (raised 2026-02-20).")


def test_refused_when_shares_do_not_add_up_to_one(people, out):
    store = people
    site = settlement(store)
    unit, claims = parcel_with_claims(store, site, 0, holders=(("Awa", "Koné", "co_owner", 1, 2),))
    adjudicate(store, site, [c.id for c in claims])
    assert refused(store, unit.id, out).reasons == [
        f"{unit.code}: the shares of the current claims add up to 1/2, not 1."]
    assert unit.id in approved_parcels(store)  # all approved: a batch then says why not


def test_refused_for_an_invalid_boundary(people, out):
    store = people
    site = settlement(store)
    bow_tie = Polygon([(400000, 590000), (400020, 590015), (400020, 590000),
                       (400000, 590015), (400000, 590000)])
    assert not bow_tie.is_valid
    with store.transaction():  # the repository refuses it: write it as another tool would
        store.db.execute(
            "INSERT INTO spatial_unit (id, kind, settlement_id, seq, code, land_use, area_m2, "
            f"boundary) VALUES ('bowtie', 'parcel', ?, 99, 'KOU-P00099', 'residential', 150, "
            f"{store.db.geometry_param(store.srid, True)})", (site.id, bow_tie.wkb))
    party = store.parties.add(Party(first_name="Awa", last_name="Koné"))
    claim = store.tenure.add(SocialTenure(party_id=party.id, spatial_unit_id="bowtie",
                                          tenure_type="owner"))
    adjudicate(store, site, [claim.id])
    [reason] = refused(store, "bowtie", out).reasons
    assert reason.startswith("KOU-P00099: the boundary is not a valid polygon (Self-intersection")


def test_refused_when_already_certified_or_not_a_parcel(people, out):
    store = people
    site = settlement(store)
    [unit] = approved_parcels_for_test(store, 1)
    first = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    os.remove(first.pdf_path)
    reasons = refused(store, unit.id, out).reasons
    assert f"{unit.code} already has a valid certificate, {first.number}: reprint it, or " \
           "supersede it." in reasons
    assert refused(store, "no-such-parcel", out).reasons == [
        "no-such-parcel is not a current parcel."]
    empty, _ = parcel_with_claims(store, site, 500, holders=())
    assert refused(store, empty.id, out).reasons == [
        f"{empty.code} has no current claims to certify."]


def test_render_failure_numbers_nothing_and_leaves_no_file(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    with pytest.raises(RuntimeError, match="layout export failed"):
        issue_certificate(store, unit.id, FakeRender(fail_for=(unit.code,)), out, today=TODAY)
    assert counts(store) == (0, 0) and pdfs_in(out) == []
    assert {c.adjudication_state for c in store.tenure.on_spatial_unit(unit.id)} == {"approved"}

    def writes_nothing(sheet, path):
        pass

    with pytest.raises(Exception, match="wrote no PDF"):
        issue_certificate(store, unit.id, writes_nothing, out, today=TODAY)
    assert issue_certificate(store, unit.id, FakeRender(), out,
                             today=TODAY).number == "KOU-2026-000001"


def test_an_existing_file_of_the_same_name_is_never_replaced(people, out):
    """Another store's certificate (or an older run's) in the folder stays as it was."""
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    os.makedirs(out)
    other = os.path.join(out, "KOU-2026-000001.pdf")
    with open(other, "wb") as handle:
        handle.write(b"%PDF-1.4 another store's certificate")
    with pytest.raises(StdmError, match="already exists; issue into another folder"):
        issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    assert counts(store) == (0, 0)
    assert pdfs_in(out) == ["KOU-2026-000001.pdf"]
    assert open(other, "rb").read() == b"%PDF-1.4 another store's certificate"


# --- roles and keys ------------------------------------------------------------------------
def test_roles(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    number = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY).number
    for login in ("enum", "sup", "admin"):
        as_user(store, login)
        with pytest.raises(PermissionDeniedError):
            issue_certificate(store, unit.id, FakeRender(), out)
        with pytest.raises(PermissionDeniedError):
            reprint(store, number, FakeRender(), out)
        with pytest.raises(PermissionDeniedError):
            revoke(store, number, "mistake")
        with pytest.raises(PermissionDeniedError):
            supersede(store, number, FakeRender(), out, "mistake")
        with pytest.raises(PermissionDeniedError):
            issue_batch(store, [unit.id], FakeRender(), out)
    for login in ("enum", "sup", "officer"):
        as_user(store, login)
        with pytest.raises(PermissionDeniedError):
            create_office_key(store, "Rogue office", KEY_PASSPHRASE)
    sign_out(store)
    with pytest.raises(PermissionDeniedError, match="Sign in"):
        revoke(store, number, "mistake")
    assert counts(store) == (1, 1)


def test_no_key_no_certificate_and_key_rotation(store, out):
    store.users.create("admin", "Ama Administrator", "administrator", PASSWORD)
    sign_in(store, "admin", PASSWORD)
    store.users.create("officer", "Aïcha Traoré", "land_officer", PASSWORD)
    store.users.create("sup", "Serge Supervisor", "supervisor", PASSWORD)
    sign_in(store, "officer", PASSWORD)
    [unit, other] = approved_parcels_for_test(store, 2)
    with pytest.raises(OfficeKeyError, match="administrator must create one"):
        issue_certificate(store, unit.id, FakeRender(), out)
    assert counts(store) == (0, 0)
    sign_in(store, "admin", PASSWORD)
    with pytest.raises(ValidationError):
        create_office_key(store, "  ", KEY_PASSPHRASE)
    with pytest.raises(ValidationError, match="passphrase must be at least"):
        create_office_key(store, "Koumassi land office", "short")
    first = create_office_key(store, "Koumassi land office", KEY_PASSPHRASE)
    sign_in(store, "officer", PASSWORD)
    with pytest.raises(OfficeKeyLockedError, match="enter its passphrase"):
        issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    unlock_office_key(store, KEY_PASSPHRASE)
    old = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    sign_in(store, "admin", PASSWORD)
    second = create_office_key(store, "Koumassi land office", "a second office passphrase")
    assert active_office_key(store).id == second.id != first.id
    assert store.db.scalar("SELECT count(*) FROM office_key WHERE retired_at IS NULL") == 1
    retired = next(k for k in office_keys(store) if k.id == first.id)
    assert retired.retired_by == "admin"
    assert retired.retired_reason == f"replaced by key {second.id}"
    sign_in(store, "officer", PASSWORD)
    with pytest.raises(OfficeKeyLockedError, match="replaced or retired"):
        issue_certificate(store, other.id, FakeRender(), out, today=TODAY)
    unlock_office_key(store, "a second office passphrase")
    new = issue_certificate(store, other.id, FakeRender(), out, today=TODAY)
    assert new.qr_payload.split("|")[4] == second.id
    assert verify_payload(store, old.qr_payload).status == "valid"  # retired keys still check
    with pytest.raises(ValidationError, match="only retired"):
        with store.transaction():
            store.db.execute("UPDATE office_key SET public_key = 'x' WHERE id = ?", (first.id,))
    with pytest.raises(ValidationError, match="only retired"):
        with store.transaction():
            store.db.execute("DELETE FROM office_key WHERE id = ?", (first.id,))


# --- batches -------------------------------------------------------------------------------
def test_batch_goes_on_after_refusals_and_failures(people, out, tmp_path):
    store = people
    site = settlement(store)
    units = approved_parcels_for_test(store, 4)
    pending, _ = parcel_with_claims(store, site, 900)  # never adjudicated
    render = FakeRender(fail_for=(units[2].code,))
    seen = []
    report = issue_batch(store, [units[0].id, pending.id, units[1].id, units[2].id,
                                 units[3].id, units[0].id], render, out, today=TODAY,
                         progress=lambda done, total: seen.append((done, total)))
    assert [i.number for i in report.issued] == ["KOU-2026-000001", "KOU-2026-000002",
                                                 "KOU-2026-000003"]
    assert [i.parcel_code for i in report.issued] == [units[0].code, units[1].code,
                                                      units[3].code]
    assert list(report.refused) == [pending.code]
    assert "enumerated, not approved" in report.refused[pending.code][0]
    assert report.failed == {units[2].code: f"RuntimeError: layout export failed for "
                                            f"{units[2].code}"}
    assert not report.cancelled and report.not_attempted == []
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert pdfs_in(out) == [f"KOU-2026-00000{n}.pdf" for n in (1, 2, 3)]
    assert report.summary() == "3 certificate(s) issued, 1 parcel(s) refused, 1 failed."
    report.to_csv(str(tmp_path / "batch.csv"))
    with open(tmp_path / "batch.csv", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["parcel_code"], r["outcome"]) for r in rows] == [
        (units[0].code, "issued"), (units[1].code, "issued"), (units[3].code, "issued"),
        (pending.code, "refused"), (units[2].code, "failed")]
    assert rows[0]["pdf_sha256"] == report.issued[0].pdf_sha256


def test_batch_cancellation_keeps_what_was_issued(people, out):
    store = people
    units = approved_parcels_for_test(store, 5)
    asked = []

    def is_cancelled():
        asked.append(1)
        return len(asked) > 2

    report = issue_batch(store, [u.id for u in units], FakeRender(), out, today=TODAY,
                         is_cancelled=is_cancelled)
    assert report.cancelled and len(report.issued) == 2
    assert report.not_attempted == [u.code for u in units[2:]]
    assert report.summary() == "2 certificate(s) issued, cancelled with 3 parcel(s) not attempted."
    assert counts(store) == (2, 2)
    assert approved_parcels(store) == [u.id for u in units[2:]]


def test_approved_parcels_by_settlement_and_block(people, out):
    store = people
    block_one = approved_parcels_for_test(store, 2, block="B1")
    block_two = approved_parcels_for_test(store, 2, start=2, block="B2")
    elsewhere = approved_parcels_for_test(store, 1, start=4, code="ABO")
    site = settlement(store)
    parcel_with_claims(store, site, 900)  # enumerated only
    parcel_with_claims(store, site, 960, holders=())  # no claims
    kou, abo = site.id, settlement(store, "ABO").id
    assert approved_parcels(store, kou) == [u.id for u in block_one + block_two]
    assert approved_parcels(store, kou, block="B2") == [u.id for u in block_two]
    assert approved_parcels(store, abo) == [elsewhere[0].id]
    issue_certificate(store, block_one[0].id, FakeRender(), out, today=TODAY)
    assert approved_parcels(store, kou, block="B1") == [block_one[1].id]
    assert approved_parcels(store) == [u.id for u in elsewhere + block_one[1:] + block_two]


# --- reprint, revoke, supersede ------------------------------------------------------------
def test_reprint_keeps_the_number_and_counts(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    render = FakeRender()
    issued = issue_certificate(store, unit.id, render, out, today=TODAY)
    store.parties.update(store.tenure.on_spatial_unit(unit.id)[0].party_id,
                         first_name="Awa Marie")  # a later edit does not reach the certificate
    again = reprint(store, issued.number, render, out)
    assert (again.number, again.qr_payload) == (issued.number, issued.qr_payload)
    assert again.pdf_path == os.path.join(out, f"{issued.number}-print2.pdf")
    first, second = render.sheets
    assert second.holders_text == first.holders_text == "Awa Koné — Owner (1)"
    for name in ("number", "parcel_code", "parcel_wkb", "srid", "area_m2", "issue_date",
                 "issued_by", "qr_payload", "language", "block", "land_use"):
        assert getattr(second, name) == getattr(first, name), name
    assert second.extra == {"print_number": 2}
    cert = find_certificate(store, issued.number)
    assert cert.print_count == 2 and cert.pdf_sha256 == issued.pdf_sha256
    history = certificate_history(store, issued.number)
    assert [(e["event"], e["pdf_sha256"]) for e in history] == [
        ("issued", issued.pdf_sha256), ("reprinted", again.pdf_sha256)]
    reprint(store, issued.number, render, out)
    assert find_certificate(store, issued.number).print_count == 3
    assert verify_payload(store, issued.qr_payload).status == "valid"


def test_revoke(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    with pytest.raises(ValidationError, match="reason"):
        revoke(store, issued.number, "  ")
    revoked = revoke(store, issued.number, "Issued to the wrong household")
    assert (revoked.status, revoked.revoked_reason) == ("revoked",
                                                        "Issued to the wrong household")
    checked = verify_payload(store, issued.qr_payload)
    assert checked.status == "revoked" and "Issued to the wrong household" in checked.details
    assert {c.adjudication_state for c in store.tenure.on_spatial_unit(unit.id)} == {"issued"}
    with pytest.raises(CertificateStatusError, match="revoked"):
        revoke(store, issued.number, "again")
    with pytest.raises(CertificateStatusError, match="revoked"):
        reprint(store, issued.number, FakeRender(), out)
    with pytest.raises(CertificateStatusError, match="revoked"):
        supersede(store, issued.number, FakeRender(), out, "new holders")
    assert [e["event"] for e in certificate_history(store, issued.number)] == ["issued",
                                                                               "revoked"]
    assert store.db.scalar("SELECT count(*) FROM certificate") == 1


def test_supersede_after_the_holders_changed(people, out):
    store = people
    site = settlement(store)
    unit, [claim] = parcel_with_claims(store, site, 0)
    adjudicate(store, site, [claim.id])
    old = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    with pytest.raises(CertificateRefusedError) as caught:  # claims not approved again
        supersede(store, old.number, FakeRender(), out, "Awa sold half to Ali")
    assert any("issued, not approved" in r for r in caught.value.reasons)
    assert not any("already has a valid certificate" in r for r in caught.value.reasons)
    return_to_enumeration(store, [claim.id], "Awa sold half to Ali")
    store.tenure.update(claim.id, tenure_type="co_owner", share_denominator=2)
    ali = store.parties.add(Party(first_name="Ali", last_name="Touré"))
    new_claim = store.tenure.add(SocialTenure(party_id=ali.id, spatial_unit_id=unit.id,
                                              tenure_type="co_owner", share_denominator=2))
    adjudicate(store, site, [claim.id, new_claim.id])
    with pytest.raises(CertificateRefusedError, match="already has a valid certificate"):
        issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    with pytest.raises(ValidationError, match="reason"):
        supersede(store, old.number, FakeRender(), out, "")
    render = FakeRender()
    new = supersede(store, old.number, render, out, "Awa sold half to Ali", today=TODAY)
    assert new.number == "KOU-2026-000002"
    assert render.sheets[0].holders_text == ("Ali Touré — Co-owner (1/2)\n"
                                             "Awa Koné — Co-owner (1/2)")
    replaced = find_certificate(store, old.number)
    assert replaced.status == "superseded" and replaced.superseded_by == new.certificate_id
    assert [(e["event"], e["other_number"], e["reason"])
            for e in certificate_history(store, old.number)] == [
        ("issued", None, None), ("superseded", new.number, "Awa sold half to Ali")]
    assert [(e["event"], e["other_number"]) for e in certificate_history(store, new.number)] == [
        ("issued", old.number)]
    checked = verify_payload(store, old.qr_payload)
    assert (checked.status, checked.superseded_by) == ("superseded", new.number)
    assert verify_payload(store, new.qr_payload).status == "valid"
    with pytest.raises(CertificateStatusError, match="superseded"):
        supersede(store, old.number, FakeRender(), out, "again")
    assert sorted(pdfs_in(out)) == [f"{old.number}.pdf", f"{new.number}.pdf"]


def test_supersede_failure_changes_nothing(people, out):
    store = people
    site = settlement(store)
    unit, [claim] = parcel_with_claims(store, site, 0)
    adjudicate(store, site, [claim.id])
    old = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    return_to_enumeration(store, [claim.id], "new name")
    adjudicate(store, site, [claim.id])
    before = counts(store)
    with pytest.raises(RuntimeError):
        supersede(store, old.number, FakeRender(fail_for=(unit.code,)), out, "new name")
    assert counts(store) == before
    assert find_certificate(store, old.number).status == "valid"
    assert pdfs_in(out) == [f"{old.number}.pdf"]


# --- the register's own rules --------------------------------------------------------------
def test_register_is_frozen_and_append_only(people, out):
    store = people
    [unit] = approved_parcels_for_test(store, 1)
    issued = issue_certificate(store, unit.id, FakeRender(), out, today=TODAY)
    for sql in ("UPDATE certificate SET snapshot = '{}'",
                "UPDATE certificate SET number = 'KOU-2026-000009'",
                "DELETE FROM certificate"):
        with pytest.raises(ValidationError, match="revoke or supersede it instead"):
            with store.transaction():
                store.db.execute(sql)
    for sql in ("UPDATE certificate_event SET reason = 'x'", "DELETE FROM certificate_event"):
        with pytest.raises(ValidationError, match="append-only"):
            with store.transaction():
                store.db.execute(sql)
    assert verify_payload(store, issued.qr_payload).status == "valid"


def test_share_text_and_holder_order():
    from stdm_plugin.core.certificates.snapshot import share_text

    assert share_text(Fraction(1)) == "1" and share_text(Fraction(2, 4)) == "1/2"


# --- several land officers at once ---------------------------------------------------------
def location_of(store):
    if store.db.dialect == "spatialite":
        return ("spatialite", store.path)
    return ("postgis", store.db.connection_params, store.db.schema)


WORKERS = 4
PER_WORKER = 3


def test_four_officers_issue_at_once(people, out):
    from certificate_worker import issue_share

    store = people
    units = approved_parcels_for_test(store, WORKERS * PER_WORKER)
    shares = [[u.id for u in units[w::WORKERS]] for w in range(WORKERS)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS) as pool:
        results = pool.starmap(issue_share, [(location_of(store), ids, out, TODAY)
                                             for ids in shares])
    numbers = sorted(n for r in results for n in r)
    assert numbers == [f"KOU-2026-{n:06d}" for n in range(1, WORKERS * PER_WORKER + 1)]
    assert store.db.scalar("SELECT count(DISTINCT spatial_unit_id) FROM certificate") == len(units)
    assert pdfs_in(out) == [f"{n}.pdf" for n in numbers]
    for number in numbers:
        cert = find_certificate(store, number)
        assert verify_payload(store, cert.qr_payload).status == "valid"
