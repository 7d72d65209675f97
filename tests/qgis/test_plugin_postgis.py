"""The plugin's PostGIS actions, against the test server."""
import time

from qgis.core import Qgis, QgsApplication, QgsProject
from test_project import DEMO_DATA

from stdm_plugin.core import SettlementStore
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.qgis.store.sources import PostgresConnection


def connection_to(server, schema):
    return PostgresConnection(schema=schema, host=server.host, port=str(server.port),
                              dbname=server.dbname, user=server.user)


def messages(iface, level):
    return iface.messageBar().get_messages(level)


def tables_in(server, schema):
    with server.connect() as con, con.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables "
                       "WHERE table_schema = %s", (schema,))
        return cursor.fetchone()[0]


def test_new_and_open_store_on_postgis(plugin, qgis_iface, postgis_server):
    schema = postgis_server.fresh_schema()
    assert plugin.create_postgis_store(connection_to(postgis_server, schema), "EPSG:32630",
                                       ("YOP", "Yopougon"))
    layers = QgsProject.instance().mapLayersByName("Parcels")
    assert len(layers) == 1 and layers[0].providerType() == "postgres"
    QgsProject.instance().clear()
    assert plugin.show_postgis_store(connection_to(postgis_server, schema))
    assert QgsProject.instance().mapLayersByName("Settlements")[0].featureCount() == 1
    assert messages(qgis_iface, Qgis.Critical) == []


def test_open_a_schema_without_a_store_says_so(plugin, qgis_iface, postgis_server):
    assert not plugin.show_postgis_store(connection_to(postgis_server,
                                                       postgis_server.fresh_schema()))
    assert any("not a settlement store" in m for m in messages(qgis_iface, Qgis.Critical))
    wrong = connection_to(postgis_server, "x")
    wrong.user = "nobody_here"
    assert not plugin.show_postgis_store(wrong)
    assert any("Could not connect" in m for m in messages(qgis_iface, Qgis.Critical))


def wait_for(task, iface, seconds=60):
    """Until the task manager has run the task and delivered finished() (it then
    deletes the task, so only its signals and the message bar are left to read)."""
    ended = []
    task.taskCompleted.connect(lambda: ended.append("complete"))
    task.taskTerminated.connect(lambda: ended.append("terminated"))
    deadline = time.monotonic() + seconds
    while not (ended and (messages(iface, Qgis.Success) or messages(iface, Qgis.Critical))):
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "task did not finish"
        time.sleep(0.02)
    return ended[0]


def test_publish_runs_as_a_task_and_checks_counts(plugin, qgis_iface, postgis_server,
                                                  tmp_path):
    path = tmp_path / "field.sqlite"
    with SettlementStore.create(path, 32630) as field:
        counts = load_demo_settlement(field, DEMO_DATA)
    schema = postgis_server.fresh_schema()
    task = plugin.start_publish(str(path), connection_to(postgis_server, schema))
    assert wait_for(task, qgis_iface) == "complete", messages(qgis_iface, Qgis.Critical)
    assert any("Published" in m and f"spatial_unit {counts['parcels'] + counts['structures']}"
               in m for m in messages(qgis_iface, Qgis.Success))
    connection = {"host": postgis_server.host, "port": postgis_server.port,
                  "user": postgis_server.user, "dbname": postgis_server.dbname}
    with SettlementStore.open_postgis(connection, schema) as city:
        assert city.tenure.count() == counts["tenure"]


def test_cancelled_publish_leaves_nothing(plugin, postgis_server, tmp_path):
    path = tmp_path / "field.sqlite"
    with SettlementStore.create(path, 32630) as field:
        load_demo_settlement(field, DEMO_DATA)
    schema = postgis_server.fresh_schema()
    from stdm_plugin.qgis.store.tasks import PublishStoreTask

    outcome = []
    task = PublishStoreTask(str(path), connection_to(postgis_server, schema), "tester",
                            lambda ok, message: outcome.append((ok, message)))
    task.cancel()
    assert task.run() is False
    task.finished(False)
    assert outcome == [(False, "Cancelled: nothing was published.")]
    assert tables_in(postgis_server, schema) == 0


def test_check_and_backup_of_a_postgis_store(plugin, qgis_iface, postgis_server, tmp_path):
    schema = postgis_server.fresh_schema()
    assert plugin.create_postgis_store(connection_to(postgis_server, schema), "EPSG:32630",
                                       ("YOP", "Yopougon"))
    assert plugin.check_shown_store().ok
    assert any(f"No problems found in {postgis_server.dbname}.{schema}" in m
               for m in messages(qgis_iface, Qgis.Success))
    assert plugin.backup_store_to(str(tmp_path)) is None
    assert any("pg_dump" in m for m in messages(qgis_iface, Qgis.Critical))
    assert list(tmp_path.iterdir()) == []
