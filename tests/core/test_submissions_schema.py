"""Schema 4: the submission register, where records came from, anonymised parties."""
import json

import pytest
from submission_samples import mapping as sample_mapping
from submission_samples import table_counts, write_export

from stdm_plugin.core import Party, Settlement, SettlementStore, ValidationError
from stdm_plugin.core.store.migrations import SCHEMA_VERSION
from stdm_plugin.core.store.publish import copy_store
from stdm_plugin.core.submissions.submissions import import_submissions


@pytest.fixture
def v3_store(backend_name, tmp_path, request):
    """A store as the version-3 plugin made it, with a household and a member."""
    if backend_name == "spatialite":
        path = tmp_path / "v3.sqlite"
        SettlementStore.create(path, 32630, target_version=3).close()
        opener = lambda: SettlementStore.open(path, actor="upgrader")  # noqa: E731
        old = SettlementStore.open(path, upgrade=False)
    else:
        server = request.getfixturevalue("postgis_server")
        connection = {"host": server.host, "port": server.port, "user": server.user,
                      "dbname": server.dbname}
        schema = server.fresh_schema()
        SettlementStore.create_postgis(connection, schema, 32630, target_version=3).close()
        opener = lambda: SettlementStore.open_postgis(connection, schema,  # noqa: E731
                                                      actor="upgrader")
        old = SettlementStore.open_postgis(connection, schema, upgrade=False)
    with old, old.transaction():  # as the version-3 plugin wrote them
        assert old.schema_version == 3 and not old.db.table_exists("submission")
        old.db.execute("INSERT INTO party (id, party_type, group_name) VALUES "
                       "('h-1', 'household', 'Famille Koné')")
        old.db.execute("INSERT INTO party (id, first_name, group_party_id) VALUES "
                       "('p-1', 'Awa', 'h-1')")
    return opener


def test_a_v3_store_upgrades_through_v4(v3_store):
    with v3_store() as store:
        assert store.schema_version == SCHEMA_VERSION >= 4
        assert store.db.table_exists("submission")
        for table in ("party", "spatial_unit", "social_tenure", "supporting_document"):
            assert {"submission_id", "answers"} <= set(store.db.columns(table))
        awa = store.parties.get("p-1")
        assert (awa.anonymised, awa.needs_mapping, awa.submission_id, awa.answers) == (
            0, 0, None, None)
        store.parties.update("h-1", needs_mapping=1, answers=json.dumps({"Site": "Azito"}))
        [change] = [v for v in store.history("party", "h-1") if v["action"] == "update"]
        assert change["values"]["needs_mapping"] == 1  # the new columns are audited
        assert json.loads(store.parties.get("h-1").answers) == {"Site": "Azito"}
        applied = [r["version"] for r in store.db.query(
            "SELECT version FROM stdm_schema_history ORDER BY version")]
        assert applied == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("party", [
    Party(anonymised=1),
    Party(anonymised=1, sex="female", household_role="child"),
    Party(party_type="household", anonymised=1),
    Party(party_type="group", anonymised=1, needs_mapping=1),
])
def test_an_anonymised_party_needs_no_name(store, party):
    saved = store.parties.add(party)
    assert store.parties.get(saved.id).anonymised == 1


@pytest.mark.parametrize("party,field", [
    (Party(), "first_name"),
    (Party(party_type="household", needs_mapping=1), "group_name"),
    (Party(first_name="Awa", anonymised=2), "anonymised"),
    (Party(party_type="household", group_name="H", needs_mapping=-1), "needs_mapping"),
    (Party(party_type="household", anonymised=1, sex="male"), "sex"),
])
def test_names_are_still_required_unless_anonymised(store, party, field):
    with pytest.raises(ValidationError) as info:
        store.parties.add(party)
    assert info.value.field == field


def test_the_database_refuses_flags_other_than_0_or_1(store):
    with pytest.raises(Exception, match="(?i)check"):
        with store.transaction():
            store.db.execute("INSERT INTO party (id, first_name, anonymised) VALUES "
                             "('x', 'A', 5)")
    assert store.parties.count() == 0


def test_publishing_carries_the_submission_register(tmp_path, postgis_server):
    connection = {"host": postgis_server.host, "port": postgis_server.port,
                  "user": postgis_server.user, "dbname": postgis_server.dbname}
    files, media = write_export(tmp_path)
    with SettlementStore.create(tmp_path / "field.sqlite", 32630, actor="field") as field:
        field.settlements.add(Settlement(code="KOU", name="Koumassi"))
        assert import_submissions(field, files, sample_mapping(), media_dir=media).imported == 3
        with SettlementStore.create_postgis(connection, postgis_server.fresh_schema(),
                                            32630) as city:
            copied = copy_store(field, city)
            assert copied["submission"] == 3
            assert table_counts(city) == {**table_counts(field),
                                          "audit_log": table_counts(city)["audit_log"]}
            again = import_submissions(city, files, sample_mapping(), media_dir=media)
            assert (again.imported, again.skipped) == (0, 3)
