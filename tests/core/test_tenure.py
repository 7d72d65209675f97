from fractions import Fraction

import pytest
from shapely.geometry import box

from stdm_plugin.core import (
    MissingReferenceError,
    Party,
    ShareExceededError,
    SocialTenure,
    SpatialUnit,
    ValidationError,
)


def claim(party, parcel, n=1, d=1, tenure_type="owner", **kw):
    return SocialTenure(party_id=party.id, spatial_unit_id=parcel.id, tenure_type=tenure_type,
                        share_numerator=n, share_denominator=d, **kw)


def test_thirds_add_up_exactly_to_one(store, parcel):
    heirs = store.parties.add_many([Party(first_name=n) for n in ("Awa", "Moussa", "Fanta")])
    store.tenure.add_many([claim(h, parcel, 1, 3, "co_owner") for h in heirs])
    assert store.tenure.share_total(parcel.id) == Fraction(1)


def test_shares_over_one_are_refused_and_nothing_is_written(store, parcel, person):
    store.tenure.add(claim(person, parcel, 1, 2))
    other = store.parties.add(Party(first_name="Moussa"))
    with pytest.raises(ShareExceededError) as info:
        store.tenure.add(claim(other, parcel, 2, 3))
    assert info.value.table == "social_tenure"
    assert "7/6" in str(info.value)
    assert store.tenure.share_total(parcel.id) == Fraction(1, 2)


def test_a_batch_over_one_is_refused_whole(store, parcel):
    parties = store.parties.add_many([Party(first_name=n) for n in ("A", "B", "C")])
    with pytest.raises(ShareExceededError):
        store.tenure.add_many([claim(p, parcel, 1, 2) for p in parties])
    assert store.tenure.on_spatial_unit(parcel.id) == []
    assert store.db.scalar("SELECT count(*) FROM audit_log WHERE table_name = "
                           "'social_tenure'") == 0


def test_retired_claims_free_their_share(store, parcel, person):
    first = store.tenure.add(claim(person, parcel))
    store.tenure.retire(first.id)
    newcomer = store.parties.add(Party(first_name="Moussa"))
    store.tenure.add(claim(newcomer, parcel, tenure_type="tenant"))
    assert store.tenure.get(first.id, include_retired=True).end_lifespan_version is not None


def test_updating_a_share_counts_the_others_not_itself(store, parcel, person):
    mine = store.tenure.add(claim(person, parcel, 1, 2))
    store.tenure.update(mine.id, share_numerator=1, share_denominator=1)
    assert store.tenure.share_total(parcel.id) == 1


def test_tenure_pointing_at_a_missing_party_is_refused(store, parcel):
    ghost = Party(id="3f2c0000-0000-4000-8000-000000000000")
    with pytest.raises(MissingReferenceError) as info:
        store.tenure.add(claim(ghost, parcel))
    assert info.value.field == "party_id"
    assert info.value.value == ghost.id
    assert store.tenure.count() == 0


def test_tenure_pointing_at_a_retired_parcel_is_refused(store, settlement, person):
    gone = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=settlement.id,
                                               boundary=box(0, 0, 10, 10)))
    store.spatial_units.retire(gone.id)
    with pytest.raises(MissingReferenceError, match="spatial_unit"):
        store.tenure.add(claim(person, gone))


@pytest.mark.parametrize("n,d", [(0, 1), (3, 2), (1, 0), (-1, 2), (1.5, 2)])
def test_bad_shares_are_refused(store, parcel, person, n, d):
    with pytest.raises(ValidationError, match="share"):
        store.tenure.add(claim(person, parcel, n, d))


def test_unknown_tenure_type_names_the_field_and_value(store, parcel, person):
    with pytest.raises(ValidationError) as info:
        store.tenure.add(claim(person, parcel, tenure_type="freehold_ish"))
    assert (info.value.field, info.value.value) == ("tenure_type", "freehold_ish")


def test_start_date_must_be_iso(store, parcel, person):
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        store.tenure.add(claim(person, parcel, start_date="12/03/2015"))


def test_a_user_extended_tenure_type_is_accepted(store, parcel, person):
    store.lookups.add_value("tenure_type", "usufruct",
                            {"en": "Usufruct", "fr": "Usufruit"})
    store.tenure.add(claim(person, parcel, tenure_type="usufruct"))
    assert store.lookups.labels("tenure_type", "fr")["usufruct"] == "Usufruit"


def test_database_rules_hold_for_edits_made_outside_the_plugin(store, parcel, person,
                                                              outside):
    """QGIS's own provider writes with plain SQL; the triggers still refuse bad tenure."""
    insert = ("INSERT INTO social_tenure (party_id, spatial_unit_id, tenure_type, "
              "share_numerator, share_denominator) VALUES (?, ?, ?, ?, ?)")
    outside.execute(insert, (person.id, parcel.id, "owner", 2, 3))
    with pytest.raises(Exception) as info:
        outside.execute(insert, (person.id, parcel.id, "tenant", 1, 2))
    assert "more than 1" in str(info.value)
    assert isinstance(outside.translate_error(info.value), ShareExceededError)
    with pytest.raises(Exception) as info:
        outside.execute(insert, ("nobody", parcel.id, "owner", 1, 10))
    assert isinstance(outside.translate_error(info.value), MissingReferenceError)
    assert store.tenure.share_total(parcel.id) == Fraction(2, 3)


def test_a_parcel_with_current_claims_cannot_be_retired(store, parcel, person):
    store.tenure.add(claim(person, parcel))
    with pytest.raises(ValidationError, match="current tenure"):
        store.spatial_units.retire(parcel.id)
    assert store.spatial_units.exists(parcel.id)


def test_edits_outside_the_plugin_are_stamped_and_audited(store, parcel, person, outside):
    claim_ = store.tenure.add(claim(person, parcel, 1, 2))
    before = store.tenure.get(claim_.id).updated_at
    outside.execute("UPDATE social_tenure SET evidence = 'Attestation du chef', "
                    "updated_by = 'qgis-user' WHERE id = ?", (claim_.id,))
    after = store.tenure.get(claim_.id)
    assert after.evidence == "Attestation du chef"
    assert after.updated_at > before
    assert after.begin_lifespan_version == after.updated_at
    assert after.row_version == 2
    log = store.db.query("SELECT action, changed_by FROM audit_log WHERE record_id = ? "
                         "ORDER BY id", (claim_.id,))
    assert log == [{"action": "insert", "changed_by": "tester"},  # recorded as such (#14)
                   {"action": "update", "changed_by": "outside the plugin: qgis-user"}]


def test_a_share_beyond_a_billionth_is_refused(store, parcel, person):
    """Its terms would not fit the database's 64-bit integers (found by fuzzing)."""
    from stdm_plugin.core import SocialTenure, ValidationError

    with pytest.raises(ValidationError, match="denominator is at most 1,000,000,000"):
        store.tenure.add(SocialTenure(party_id=person.id, spatial_unit_id=parcel.id,
                                      tenure_type="owner", share_numerator=1,
                                      share_denominator=2**70))
    assert store.tenure.on_spatial_unit(parcel.id) == []
