"""Adjudication of claims and the roles that may move them (schema 5), on both backends."""
import pytest
from shapely.geometry import box

from stdm_plugin.core import Party, SocialTenure, SpatialUnit, ValidationError
from stdm_plugin.core.adjudication import adjudication as adj
from stdm_plugin.core.store.errors import (
    AdjudicationError,
    ClaimLockedError,
    PermissionDeniedError,
)
from stdm_plugin.core.store.users import allowed, password_matches, sign_in, sign_out


@pytest.fixture
def team(store):
    """An administrator who made a supervisor, a land officer and an enumerator."""
    store.users.create("admin", "Adèle Admin", "administrator", password="s3cret")
    sign_in(store, "admin", "s3cret")
    store.users.create("sup", "Seydou Superviseur", "supervisor", password="sup-pass")
    store.users.create("officer", "Léa Officer", "land_officer", password="cert")
    store.users.create("enum", "Eric Enumerator", "enumerator", password="enum-pass")
    sign_out(store)
    return store


@pytest.fixture
def claims(team, settlement):
    """Two parcels in two blocks; the first held half and half by Awa and Issa."""
    store = team
    p1, p2 = store.spatial_units.add_many([
        SpatialUnit(kind="parcel", settlement_id=settlement.id, block="A",
                    boundary=box(400000, 590000, 400020, 590015)),
        SpatialUnit(kind="parcel", settlement_id=settlement.id, block="B",
                    boundary=box(400020, 590000, 400040, 590015))])
    awa, issa = store.parties.add_many([Party(first_name="Awa", last_name="Koné"),
                                        Party(first_name="Issa", last_name="Koné")])
    made = store.tenure.add_many([
        SocialTenure(party_id=awa.id, spatial_unit_id=p1.id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2),
        SocialTenure(party_id=issa.id, spatial_unit_id=p1.id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2),
        SocialTenure(party_id=issa.id, spatial_unit_id=p2.id, tenure_type="tenant")])
    return {"ids": [c.id for c in made], "parcels": (p1, p2), "settlement": settlement}


def state(store, claim_id):
    return store.tenure.get(claim_id).adjudication_state


#: the passwords of the team fixture's accounts
PASSWORDS = {"admin": "s3cret", "sup": "sup-pass", "officer": "cert", "enum": "enum-pass"}


def as_user(store, login, password=None):
    sign_in(store, login, password or PASSWORDS[login])
    return store


def to_display(store, claims, *, block=None, ends="2026-01-31"):
    as_user(store, "sup").user  # noqa: B018 - signs in
    adj.verify(store, claims["ids"])
    return adj.open_public_display(store, claims["settlement"].id, "2026-01-01", ends,
                                   block=block, place="Chef's yard")


def test_a_new_claim_is_enumerated_whatever_it_says(store, parcel, person):
    claim = store.tenure.add(SocialTenure(party_id=person.id, spatial_unit_id=parcel.id,
                                          tenure_type="owner", adjudication_state="approved"))
    assert state(store, claim.id) == "enumerated"
    with pytest.raises(ValidationError, match="no editable field"):
        store.tenure.update(claim.id, adjudication_state="approved")


def test_the_full_path_records_who_and_when(team, claims):
    store = team
    display = to_display(store, claims)
    assert {state(store, c) for c in claims["ids"]} == {"public_display"}
    listed = adj.display_list(store, display.id)
    assert [(r["parcel_code"], r["first_name"], r["share_numerator"], r["share_denominator"])
            for r in listed] == [("KOU-P00001", "Awa", 1, 2), ("KOU-P00001", "Issa", 1, 2),
                                 ("KOU-P00002", "Issa", 1, 1)]
    as_user(store, "officer", "cert")
    assert adj.approve(store, claims["ids"], today="2026-02-01") == 3
    events = adj.claim_events(store, claims["ids"][0])
    assert [(e["from_state"], e["to_state"], e["changed_by"], e["role"]) for e in events] == [
        ("enumerated", "verified", "sup", "supervisor"),
        ("verified", "public_display", "sup", "supervisor"),
        ("public_display", "approved", "officer", "land_officer")]
    assert all(e["changed_at"].endswith("Z") for e in events)
    assert events[1]["note"] == "2026-01-01..2026-01-31"


def test_a_display_can_cover_one_block(team, claims):
    store = team
    display = to_display(store, claims, block="B")
    assert display.block == "B"
    assert [state(store, c) for c in claims["ids"]] == ["verified", "verified",
                                                         "public_display"]
    with pytest.raises(AdjudicationError, match="no verified claims in block C"):
        adj.open_public_display(store, claims["settlement"].id, "2026-01-01", "2026-01-31",
                                block="C")


@pytest.mark.parametrize("starts,ends,message", [
    ("2026-02-01", "2026-01-01", "ends before it starts"),
    ("01/02/2026", "2026-03-01", "must be a date"),
])
def test_a_display_period_must_make_sense(team, claims, starts, ends, message):
    store = as_user(team, "sup")
    adj.verify(store, claims["ids"])
    with pytest.raises(ValidationError, match=message):
        adj.open_public_display(store, claims["settlement"].id, starts, ends)
    assert state(store, claims["ids"][0]) == "verified"


def test_states_cannot_be_skipped(team, claims):
    store = as_user(team, "officer", "cert")
    with pytest.raises(AdjudicationError, match="is enumerated; to approve it must be "
                                                "public display"):
        adj.approve(store, claims["ids"][:1], today="2026-02-01")
    as_user(store, "sup")
    adj.verify(store, claims["ids"][:1])
    with pytest.raises(AdjudicationError, match="is verified; to verify it must be enumerated"):
        adj.verify(store, claims["ids"])  # the batch holds one verified claim
    assert state(store, claims["ids"][1]) == "enumerated"  # nothing of the batch moved


def test_approval_waits_for_the_end_of_the_display(team, claims):
    store = team
    to_display(store, claims, ends="2026-01-31")
    as_user(store, "officer", "cert")
    with pytest.raises(AdjudicationError, match="on public display until 2026-01-31"):
        adj.approve(store, claims["ids"], today="2026-01-31")
    assert adj.approve(store, claims["ids"], today="2026-02-01") == 3


def test_an_open_objection_blocks_approval_until_resolved(team, claims):
    store = team
    to_display(store, claims)
    as_user(store, "enum")  # anyone working may write an objection down
    objection = adj.record_objection(store, claims["ids"][0], "Moussa Traoré",
                                     "The back wall is on my plot", raised_on="2026-01-10")
    assert objection.status == "open" and objection.created_by == "enum"
    as_user(store, "officer", "cert")
    with pytest.raises(AdjudicationError, match="open objection by Moussa Traoré"):
        adj.approve(store, claims["ids"], today="2026-02-01")
    assert state(store, claims["ids"][2]) == "public_display"  # all or nothing
    adj.resolve_objection(store, objection.id, "dismissed", "Wall built in 1998, witnessed")
    assert adj.approve(store, claims["ids"], today="2026-02-01") == 3
    resolved = store.objections.get(objection.id)
    assert (resolved.status, resolved.resolved_by) == ("dismissed", "officer")
    with pytest.raises(AdjudicationError, match="already dismissed"):
        adj.resolve_objection(store, objection.id, "upheld", "again")


def test_an_upheld_objection_sends_the_claim_back(team, claims):
    store = team
    to_display(store, claims)
    objection = adj.record_objection(store, claims["ids"][1], "Awa Koné", "Issa left in 2019")
    as_user(store, "officer", "cert")
    adj.resolve_objection(store, objection.id, "upheld", "Confirmed by the chief")
    assert state(store, claims["ids"][1]) == "enumerated"
    assert store.tenure.get(claims["ids"][1]).public_display_id is None
    last = adj.claim_events(store, claims["ids"][1])[-1]
    assert last["note"] == "objection upheld: Confirmed by the chief"


@pytest.mark.parametrize("kwargs,message", [
    ({"objector_name": " ", "grounds": "x"}, "Who objects"),
    ({"objector_name": "Moussa", "grounds": ""}, "What is the objection"),
])
def test_an_objection_needs_who_and_what(team, claims, kwargs, message):
    store = as_user(team, "enum")
    with pytest.raises(ValidationError, match=message):
        adj.record_objection(store, claims["ids"][0], **kwargs)
    assert not store.objections.find()


def test_a_claim_in_adjudication_is_locked_until_sent_back(team, claims, outside):
    store = as_user(team, "sup")
    claim_id = claims["ids"][2]
    adj.verify(store, [claim_id])
    with pytest.raises(ClaimLockedError):
        store.tenure.update(claim_id, share_numerator=1, share_denominator=2)
    with pytest.raises(ClaimLockedError):
        store.tenure.retire(claim_id)
    # QGIS's own editing goes to the database directly: the rule holds there too
    with pytest.raises(Exception, match="claim_locked"):
        outside.execute("UPDATE social_tenure SET tenure_type = 'owner' WHERE id = ?",
                        (claim_id,))
    with pytest.raises(Exception, match="claim_locked"):
        outside.execute("DELETE FROM social_tenure WHERE id = ?", (claim_id,))
    outside.execute("UPDATE social_tenure SET remarks = 'checked twice' WHERE id = ?",
                    (claim_id,))  # notes are not what adjudication certifies
    with pytest.raises(ValidationError, match="Say why"):
        adj.return_to_enumeration(store, [claim_id], " ")
    adj.return_to_enumeration(store, [claim_id], "Tenant is in fact the owner's son")
    store.tenure.update(claim_id, tenure_type="owner")
    assert store.tenure.get(claim_id).tenure_type == "owner"


def test_the_event_log_is_append_only(team, claims, outside):
    store = as_user(team, "sup")
    adj.verify(store, claims["ids"][:1])
    for sql in ("UPDATE adjudication_event SET changed_by = 'someone else'",
                "DELETE FROM adjudication_event"):
        with pytest.raises(Exception, match="register_append_only"):
            outside.execute(sql)
        assert len(adj.claim_events(store, claims["ids"][0])) == 1


@pytest.mark.parametrize("login,action", [
    ("enum", "verify"), ("enum", "open_public_display"), ("enum", "approve"),
    ("sup", "approve"), ("sup", "resolve_objection"), ("admin", "approve"),
    ("officer", "manage_users"), ("sup", "manage_users"),
])
def test_each_role_is_refused_what_it_may_not_do(team, claims, login, action):
    store = team
    if action in ("approve", "resolve_objection"):
        to_display(store, claims)
    as_user(store, "enum")
    objection = adj.record_objection(store, claims["ids"][0], "Moussa", "My plot")
    sign_in(store, login, PASSWORDS[login])
    calls = {
        "verify": lambda: adj.verify(store, claims["ids"]),
        "open_public_display": lambda: adj.open_public_display(
            store, claims["settlement"].id, "2026-01-01", "2026-01-31"),
        "approve": lambda: adj.approve(store, claims["ids"], today="2026-02-01"),
        "resolve_objection": lambda: adj.resolve_objection(store, objection.id, "dismissed",
                                                           "no"),
        "manage_users": lambda: store.users.create("x", "X", "enumerator", "x-pass"),
    }
    before = [state(store, c) for c in claims["ids"]]
    with pytest.raises(PermissionDeniedError) as refused:
        calls[action]()
    assert refused.value.role == store.user.role and refused.value.action == action
    assert store.user.full_name in str(refused.value)
    assert not allowed(store, action)
    assert [state(store, c) for c in claims["ids"]] == before
    assert store.objections.get(objection.id).status == "open"


def test_nobody_signed_in_may_adjudicate_once_users_exist(team, claims):
    store = team
    with pytest.raises(PermissionDeniedError, match="Sign in to verify"):
        adj.verify(store, claims["ids"])


def test_a_store_without_users_needs_one_to_adjudicate(store, parcel, person):
    claim = store.tenure.add(SocialTenure(party_id=person.id, spatial_unit_id=parcel.id,
                                          tenure_type="owner"))
    assert allowed(store, "enumerate")  # enumeration works as before
    with pytest.raises(PermissionDeniedError, match="Sign in"):
        adj.verify(store, [claim.id])
    with pytest.raises(ValidationError, match="first user of a store must be its admin"):
        store.users.create("sup", "Sup", "supervisor", "sup-pass")
    store.users.create("boss", "Boss", "administrator", "boss-pass")
    assert store.users.count() == 1


def test_signing_in_checks_the_password_and_stamps_records(team, parcel):
    store = team
    for login, password in (("officer", "wrong"), ("officer", None), ("ghost", None)):
        with pytest.raises(PermissionDeniedError, match="Unknown user or wrong password"):
            sign_in(store, login, password)
    assert store.user is None
    as_user(store, "officer", "cert")
    stored = store.users.by_login("officer").password_hash
    assert stored.startswith("pbkdf2$") and "cert" not in stored
    assert password_matches(stored, "cert") and not password_matches(stored, "Cert")
    party = store.parties.add(Party(first_name="Fatou", last_name="Diallo"))
    assert party.created_by == "officer"


def test_users_are_managed_by_an_administrator(team):
    store = as_user(team, "admin", "s3cret")
    with pytest.raises(ValidationError, match="already taken"):
        store.users.create("sup", "Another", "supervisor", "another-pass")
    with pytest.raises(ValidationError, match="Unknown role 'chief'"):
        store.users.create("chief", "Chief", "chief", "chief-pass")
    store.users.change_role("enum", "supervisor")
    assert store.users.by_login("enum").role == "supervisor"
    store.users.deactivate("enum")
    with pytest.raises(PermissionDeniedError):
        sign_in(store, "enum", "enum-pass")
    with pytest.raises(ValidationError, match="cannot deactivate yourself"):
        store.users.deactivate("admin")
    as_user(store, "officer", "cert")
    store.users.change_own_password("cert", "longer-secret")  # one's own password
    with pytest.raises(PermissionDeniedError):
        store.users.set_password("sup", "x")
    assert sign_in(store, "officer", "longer-secret").login == "officer"
