"""The dialogs a GIS technician fills in: what they return, and how they look."""
import pathlib

from stdm_plugin.gui.store.postgres_dialog import PostgresStoreDialog
from stdm_plugin.gui.store.store_dialog import NewStoreDialog

ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"


def test_new_store_dialog_returns_file_crs_and_settlement(qgis_app):
    dialog = NewStoreDialog()
    dialog.file_widget.setFilePath("/data/abobo")
    dialog.settlement_code.setText("abo")
    dialog.settlement_name.setText("Abobo Baoulé")
    assert dialog.store_path() == "/data/abobo.sqlite"
    assert dialog.crs_authid() == "EPSG:4326"
    assert dialog.settlement() == ("ABO", "Abobo Baoulé")
    dialog.show()
    qgis_app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "dialog_new_store.png"))
    dialog.close()


def test_postgis_dialog_builds_a_connection_without_a_password(qgis_app):
    dialog = PostgresStoreDialog("new")
    dialog.host.setText("db.city.example")
    dialog.dbname.setText("cadastre")
    dialog.user.setText("officer")
    dialog.schema.setText("abobo")
    connection = dialog.connection()
    assert (connection.host, connection.port, connection.dbname, connection.schema) == (
        "db.city.example", "5432", "cadastre", "abobo")
    assert "password" not in connection.layer_uri("party", None, "")
    assert connection.psycopg2_params() == {"host": "db.city.example", "port": "5432",
                                            "dbname": "cadastre", "user": "officer"}
    dialog.show()
    qgis_app.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    assert dialog.grab().save(str(ARTIFACTS / "dialog_new_postgis_store.png"))
    dialog.close()
