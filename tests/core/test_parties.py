import pytest

from stdm_plugin.core import MissingReferenceError, Party, ValidationError


def test_household_and_members_land_together(store):
    household = Party(id="11111111-1111-4111-8111-111111111111", party_type="household",
                      group_name="Famille Traoré")
    members = [Party(first_name="Issa", last_name="Traoré", sex="male", household_role="head",
                     group_party_id=household.id, date_of_birth="1979-04-02"),
               Party(first_name="Mariam", last_name="Traoré", sex="female", age_years=7,
                     household_role="child", group_party_id=household.id)]
    store.parties.add_many([*members, household])
    assert sorted(p.first_name for p in store.parties.members(household.id)) == ["Issa",
                                                                                 "Mariam"]
    assert store.parties.get(members[0].id).display_name == "Issa Traoré"
    assert store.parties.get(members[0].id).created_by == "tester"


@pytest.mark.parametrize("party,field", [
    (Party(first_name=" "), "first_name"),
    (Party(party_type="household"), "group_name"),
    (Party(party_type="household", group_name="H", sex="male"), "sex"),
    (Party(party_type="corporation", group_name="X"), "party_type"),
    (Party(first_name="A", sex="m"), "sex"),
    (Party(first_name="A", date_of_birth="02/04/1979"), "date_of_birth"),
    (Party(first_name="A", date_of_birth="2999-01-01"), "date_of_birth"),
    (Party(first_name="A", age_years=200), "age_years"),
    (Party(first_name="A", id_document_number="CI123"), "id_document_type"),
    (Party(first_name="A", household_role="landlord"), "household_role"),
])
def test_bad_parties_are_refused_naming_the_field(store, party, field):
    with pytest.raises(ValidationError) as info:
        store.parties.add(party)
    assert info.value.field == field
    assert info.value.table == "party"
    assert store.parties.count() == 0


def test_member_of_a_missing_household_is_refused(store):
    with pytest.raises(MissingReferenceError, match="household"):
        store.parties.add(Party(first_name="A", group_party_id="no-such-household"))


def test_a_batch_with_one_bad_party_writes_none(store):
    batch = [Party(first_name=f"P{i}") for i in range(50)] + [Party(first_name="X", sex="?")]
    with pytest.raises(ValidationError):
        store.parties.add_many(batch)
    assert store.parties.count() == 0


def test_update_keeps_the_previous_version_in_history(store, person):
    store.parties.update(person.id, phone="+225 07 00 00 00")
    store.parties.update(person.id, last_name="Koné-Bamba")
    versions = store.history("party", person.id)
    assert [v["values"]["last_name"] for v in versions] == ["Koné", "Koné", "Koné-Bamba"]
    assert versions[0]["end"] == versions[1]["begin"]
    assert versions[-1]["end"] is None
    assert {v["changed_by"] for v in versions} == {"tester"}


def test_update_refuses_unknown_or_computed_fields(store, person):
    with pytest.raises(ValidationError, match="no editable field"):
        store.parties.update(person.id, salary=10)


def test_retire_keeps_the_record(store, person):
    store.parties.retire(person.id)
    assert not store.parties.exists(person.id)
    assert store.parties.get(person.id, include_retired=True).first_name == "Awa"


def test_audit_log_is_append_only(store, person):
    with pytest.raises(ValidationError, match="append-only"):
        with store.transaction():
            store.db.execute("DELETE FROM audit_log")
    with pytest.raises(ValidationError, match="append-only"):
        with store.transaction():
            store.db.execute("UPDATE audit_log SET changed_by = 'someone else'")
    assert store.db.scalar("SELECT count(*) FROM audit_log WHERE record_id = ?",
                           (person.id,)) == 1
