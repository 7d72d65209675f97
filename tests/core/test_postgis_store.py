"""What is particular to stores on PostGIS: connections, schemas, many users."""
import pytest

from stdm_plugin.core import (
    NewerStoreError,
    NotAStoreError,
    Party,
    SettlementStore,
    StoreError,
    StoreExistsError,
    UnknownCrsError,
)
from stdm_plugin.core.store.migrations import SCHEMA_VERSION


@pytest.fixture
def connection(postgis_server):
    return {"host": postgis_server.host, "port": postgis_server.port,
            "user": postgis_server.user, "dbname": postgis_server.dbname}


def tables_in(postgis_server, schema):
    with postgis_server.connect() as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                       (schema,))
        return cursor.fetchone()[0]


def test_a_store_is_made_in_a_new_schema_and_reopens(postgis_server, connection):
    with SettlementStore.create_postgis(connection, "koumassi", 32630, actor="amina") as store:
        store.parties.add(Party(first_name="Awa"))
    with SettlementStore.open_postgis(connection, "koumassi", actor="yao") as again:
        assert again.schema_version == SCHEMA_VERSION
        assert again.srid == 32630
        assert again.parties.count() == 1
    postgis_server.drop_schema("koumassi")


def test_unknown_crs_leaves_no_schema_behind(postgis_server, connection):
    with pytest.raises(UnknownCrsError):
        SettlementStore.create_postgis(connection, "nowhere_crs", "EPSG:999999")
    with pytest.raises(UnknownCrsError):  # known to pyproj, refused by PostGIS: rolled back
        SettlementStore.create_postgis(connection, "nowhere_crs", "EPSG:4979")
    assert tables_in(postgis_server, "nowhere_crs") == 0


def test_a_schema_that_is_not_empty_is_refused(postgis_server, connection):
    schema = postgis_server.fresh_schema()
    with postgis_server.connect() as con, con.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{schema}".their_table (x int)')
    with pytest.raises(StoreExistsError, match="not empty"):
        SettlementStore.create_postgis(connection, schema, 4326)
    with pytest.raises(NotAStoreError, match="stdm_store_info"):
        SettlementStore.open_postgis(connection, schema)
    assert tables_in(postgis_server, schema) == 1


def test_wrong_credentials_get_a_clear_message(connection):
    wrong = dict(connection, user="no_such_role")
    with pytest.raises(StoreError, match="Could not connect"):
        SettlementStore.open_postgis(wrong, "anything")


def test_a_database_without_postgis_is_refused(postgis_server, connection):
    con = postgis_server.connect()
    try:
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute("DROP DATABASE IF EXISTS plain_db")
            cursor.execute("CREATE DATABASE plain_db")
    finally:
        con.close()
    plain = dict(connection, dbname="plain_db")
    with pytest.raises(StoreError, match="no PostGIS"):
        SettlementStore.create_postgis(plain, "site", 4326)


def test_a_store_from_a_newer_version_is_refused(postgis_server, connection):
    schema = postgis_server.fresh_schema()
    SettlementStore.create_postgis(connection, schema, 4326).close()
    with postgis_server.connect() as con, con.cursor() as cursor:
        cursor.execute(f'UPDATE "{schema}".stdm_store_info SET value = %s '
                       "WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(NewerStoreError):
        SettlementStore.open_postgis(connection, schema)


def test_an_older_store_upgrades_in_one_transaction(postgis_server, connection):
    schema = postgis_server.fresh_schema()
    SettlementStore.create_postgis(connection, schema, 4326, target_version=1).close()
    with SettlementStore.open_postgis(connection, schema) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert "row_version" in store.db.columns("party")


def test_a_bad_schema_name_is_refused(connection):
    with pytest.raises(StoreError, match="schema name"):
        SettlementStore.create_postgis(connection, 'x"; DROP TABLE y; --', 4326)


def test_a_connection_lost_mid_save_saves_nothing(postgis_server, connection):
    schema = postgis_server.fresh_schema()
    store = SettlementStore.create_postgis(connection, schema, 4326)
    pid = store.db.scalar("SELECT pg_backend_pid()")
    with pytest.raises(StoreError, match="Nothing was saved"):
        with store.transaction():
            store.parties.add(Party(first_name="Awa"))
            killer = postgis_server.connect()
            killer.autocommit = True
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killer.close()
            store.parties.add(Party(first_name="Moussa"))
    store.close()
    with SettlementStore.open_postgis(connection, schema) as again:
        assert again.parties.count() == 0


def test_a_client_that_vanished_mid_transaction_does_not_hold_its_locks(postgis_server,
                                                                        connection):
    """A laptop that lost power mid-save: the server ends its idle transaction and the
    others can save again, without the change it had begun."""
    import time

    from stdm_plugin.core.store.backend import transaction
    from stdm_plugin.core.store.postgis import PostGISBackend

    schema = postgis_server.fresh_schema()
    with SettlementStore.create_postgis(connection, schema, 4326) as store:
        awa = store.parties.add(Party(first_name="Awa"))
        assert store.db.scalar("SHOW idle_in_transaction_session_timeout") == "10min"
        assert store.db.scalar("SHOW tcp_keepalives_idle") == "60"
    gone = PostGISBackend(connection, schema, idle_timeout_ms=300)
    with pytest.raises(StoreError, match="Nothing was saved"):
        with transaction(gone):
            gone.execute("UPDATE party SET first_name = 'half saved' WHERE id = ?", (awa.id,))
            time.sleep(1.5)  # the client says nothing more, as a dead one would
            with SettlementStore.open_postgis(connection, schema) as other:
                other.parties.update(awa.id, first_name="Awa Fanta")  # no lock in the way
    gone.close()
    with SettlementStore.open_postgis(connection, schema) as again:
        assert again.parties.get(awa.id).first_name == "Awa Fanta"
