"""One household's enumeration: checked as a whole, saved at once or not at all."""
import copy
import pathlib
from fractions import Fraction

import pytest
from shapely.geometry import box

from stdm_plugin.core import Settlement
from stdm_plugin.core.forms.enumeration import EnumerationError, check_enumeration, save_enumeration
from stdm_plugin.core.forms.forms import load_form
from stdm_plugin.core.store.lookups import DEFAULT_LOOKUPS

FORM = load_form(pathlib.Path(__file__).resolve().parents[2] / "forms" / "enumeration.yaml")
JPEG = b"\xff\xd8\xff\xe0 a photo"


def codes(category):
    return {code for code, *_ in DEFAULT_LOOKUPS[category]}


def good_answers():
    return {
        "parcel": {"parcel_boundary": box(400000, 590000, 400020, 590015),
                   "land_use": "residential", "address": "Bloc B2, near the mosque",
                   "parcel_photo": ("street.jpg", JPEG)},
        "household": {"household_name": "Famille Koné"},
        "members": [
            {"first_name": "Awa", "last_name": "Koné", "sex": "female",
             "date_of_birth": "1978-03-02", "household_role": "head",
             "id_document_type": "national_id", "id_document_number": "CI0012345",
             "id_photo": ("cni.jpg", JPEG), "phone": "+225 07 01 02 03 04",
             "tenure": {"tenure_type": "co_owner", "share_numerator": 1,
                        "share_denominator": 2, "tenure_start": "2004-06-01",
                        "evidence": "Convention de vente"}},
            {"first_name": "Issa", "last_name": "Koné", "sex": "male", "age_years": "51",
             "household_role": "spouse",
             "tenure": {"tenure_type": "co_owner", "share_numerator": 1,
                        "share_denominator": 2}},
            {"first_name": "Mariam", "last_name": "Koné", "sex": "female", "age_years": 9,
             "household_role": "child"},
        ],
    }


def test_a_good_enumeration_has_no_problems():
    assert check_enumeration(FORM, good_answers(), codes) == []


def problems_after(change):
    answers = good_answers()
    change(answers)
    return [(p.where(), p.reason) for p in check_enumeration(FORM, answers, codes)]


def test_required_relevance_constraints_and_types_are_checked():
    assert problems_after(lambda a: a["members"][1].pop("age_years")) == [
        ("members[2].age_years", "is required")]  # no date of birth, so the age is needed
    assert problems_after(lambda a: a["members"][0].update(age_years=40)) == [
        ("members[1].age_years", "answered although the question does not apply "
                                 "(${date_of_birth} = '')")]
    assert problems_after(lambda a: a["members"][2].update(age_years=140)) == [
        ("members[3].age_years", "The age is between 0 and 130.")]
    assert problems_after(lambda a: a["members"][2].update(sex="f"))[0][0] == "members[3].sex"
    assert problems_after(lambda a: a["members"][0].update(date_of_birth="02/03/1978")) == [
        ("members[1].date_of_birth", "'02/03/1978' is not a date written YYYY-MM-DD")]
    assert problems_after(lambda a: a["members"][0].update(id_document_number="")) == [
        ("members[1].id_document_number", "is required")]
    assert problems_after(lambda a: a["members"][0].update(phone="call me")) == [
        ("members[1].phone", "Digits and spaces only, 8 to 20, may start with +")]
    assert problems_after(lambda a: a["parcel"].pop("parcel_boundary")) == [
        ("parcel.parcel_boundary", "is required")]
    bowtie = box(0, 0, 1, 1).exterior  # a line where a shape is needed
    assert "geoshape is needed" in problems_after(
        lambda a: a["parcel"].update(parcel_boundary=bowtie))[0][1]
    assert problems_after(lambda a: a.update(members=[])) == [
        ("members.members", "at least one entry is needed")]


def test_claims_inside_members_are_checked_with_the_member():
    wrong = problems_after(lambda a: a["members"][0]["tenure"].update(share_denominator=0))
    assert wrong == [("tenure[1].share_denominator", "The share cannot be more than the whole.")]


def test_shares_over_one_on_the_parcel_are_refused():
    def third_owner(answers):
        answers["members"][2]["tenure"] = {"tenure_type": "heir", "share_numerator": 1,
                                           "share_denominator": 3}
    assert problems_after(third_owner) == [
        ("tenure.share_numerator", "the shares claimed on the parcel add up to 4/3, more "
                                   "than 1")]


def test_save_writes_everything_in_one_go(store):
    site = store.settlements.add(Settlement(code="KOU", name="Koumassi"))
    saved = save_enumeration(store, FORM, good_answers(), site.id)
    parcel = store.spatial_units.get(saved["parcel"].id)
    assert (parcel.code, parcel.land_use, parcel.address) == (
        "KOU-P00001", "residential", "Bloc B2, near the mosque")
    household = store.parties.get(saved["household"].id)
    members = store.parties.members(household.id)
    assert sorted(m.first_name for m in members) == ["Awa", "Issa", "Mariam"]
    issa = next(m for m in members if m.first_name == "Issa")
    assert issa.age_years == 51
    assert store.tenure.share_total(parcel.id) == Fraction(1)
    awa_claim = next(c for c in saved["claims"] if c.party_id == saved["members"][0].id)
    assert (awa_claim.start_date, awa_claim.evidence) == ("2004-06-01", "Convention de vente")
    assert [d.document_type for d in store.documents.for_record("party_id",
                                                                 saved["members"][0].id)] == [
        "id_scan"]
    assert store.documents.for_record("spatial_unit_id", parcel.id)[0].file_name == "street.jpg"


def test_a_bad_enumeration_saves_nothing(store):
    site = store.settlements.add(Settlement(code="KOU", name="Koumassi"))
    answers = copy.deepcopy(good_answers())
    answers["members"][2]["sex"] = "unknown"
    before = store.db.scalar("SELECT count(*) FROM audit_log")
    with pytest.raises(EnumerationError) as info:
        save_enumeration(store, FORM, answers, site.id)
    assert [p.where() for p in info.value.problems] == ["members[3].sex"]
    assert store.db.scalar("SELECT count(*) FROM audit_log") == before
    assert store.parties.count() == 0 and store.spatial_units.count() == 0


def test_a_household_on_a_parcel_picked_on_the_map(store, parcel, settlement):
    answers = good_answers()
    answers.pop("parcel")
    saved = save_enumeration(store, FORM, answers, settlement.id, parcel_id=parcel.id)
    assert saved["parcel"].id == parcel.id
    assert store.spatial_units.count() == 1
    assert len(store.tenure.on_spatial_unit(parcel.id)) == 2
