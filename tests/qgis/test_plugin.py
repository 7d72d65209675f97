import sqlite3

from qgis.core import Qgis, QgsProject

from stdm_plugin.core import SettlementStore


def critical(iface):
    return iface.messageBar().get_messages(Qgis.Critical)


def test_menu_and_toolbar_actions(plugin, qgis_iface):
    entries = plugin.menu.actions()
    texts = [a.text() for a in entries if not a.isSeparator()]
    groups = [i for i, a in enumerate(entries) if a.isSeparator()]
    assert [entries[i + 1].text() for i in groups] == [
        "Enumerate household…", "Check store consistency…", "Sign in…", "Check geometry…"]
    assert texts == ["New settlement store…", "Open settlement store…",
                     "New settlement store on PostGIS…", "Open settlement store on PostGIS…",
                     "Publish settlement store to PostGIS…", "Enumerate household…",
                     "Export form for ODK/KoBo…", "Import submissions…",
                     "Create field package…", "Merge field package…",
                     "Check store consistency…", "Back up store…",
                     "Restore store from backup…", "Export backup key…", "Sign in…",
                     "Manage users…",
                     "Adjudicate claims…", "Issue certificates…", "Certificate register…",
                     "Verify certificate…", "Check geometry…", "Import cadastre or structures…",
                     "Export…", "Split parcel", "Merge selected parcels"]
    assert [a.text() for a in plugin.toolbar.actions()] == [*texts[:2], texts[5], texts[16]]


def test_create_store_shows_its_layers(plugin, qgis_iface, tmp_path):
    path = str(tmp_path / "abobo.sqlite")
    assert plugin.create_store(path, "EPSG:32630", ("ABO", "Abobo Baoulé"))
    names = {layer.name() for layer in QgsProject.instance().mapLayers().values()}
    assert {"Parcels", "Structures", "Parties", "Social tenure", "Settlements"} <= names
    assert QgsProject.instance().crs().authid() == "EPSG:32630"
    assert critical(qgis_iface) == []
    assert any("abobo.sqlite" in m for m in qgis_iface.messageBar().get_messages(Qgis.Success))
    with SettlementStore.open(path) as store:
        assert store.settlements.by_code("ABO").name == "Abobo Baoulé"


def test_unknown_crs_gets_a_message_and_no_file(plugin, qgis_iface, tmp_path):
    path = tmp_path / "x.sqlite"
    assert not plugin.create_store(str(path), "EPSG:999999", None)
    assert any("EPSG:999999" in m for m in critical(qgis_iface))
    assert not path.exists()
    assert QgsProject.instance().mapLayers() == {}


def test_opening_a_file_that_is_not_a_store_says_so(plugin, qgis_iface, tmp_path):
    path = tmp_path / "photo.sqlite"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    assert not plugin.show_store(str(path))
    assert any("not a settlement store" in m and "photo.sqlite" in m
               for m in critical(qgis_iface))
    assert path.read_bytes() == b"\xff\xd8\xff\xe0 not a database"


def test_opening_a_newer_store_says_update_the_plugin(plugin, qgis_iface, tmp_path):
    path = tmp_path / "future.sqlite"
    SettlementStore.create(path, 4326).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE stdm_store_info SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    assert not plugin.show_store(str(path))
    assert any("newer version" in m for m in critical(qgis_iface))
    assert QgsProject.instance().mapLayers() == {}


def test_opening_an_existing_store_twice_replaces_its_layers(plugin, filled_store):
    assert plugin.show_store(filled_store.path)
    assert plugin.show_store(filled_store.path)
    parcels = QgsProject.instance().mapLayersByName("Parcels")
    assert len(parcels) == 1
    assert parcels[0].featureCount() == 2


def test_export_form_for_odk_takes_the_store_code_lists(plugin, qgis_iface, filled_store,
                                                      tmp_path):
    import openpyxl

    filled_store.lookups.add_value("tenure_type", "usufruct", {"en": "Usufruct",
                                                               "fr": "Usufruit"})
    assert plugin.show_store(filled_store.path)
    assert plugin.export_form_to(str(tmp_path / "enumeration.xlsx"))
    choices = openpyxl.load_workbook(tmp_path / "enumeration.xlsx")["choices"]
    names = {row[1] for row in choices.iter_rows(min_row=2, values_only=True)}
    assert "usufruct" in names
    assert any("code lists of" in m for m in qgis_iface.messageBar().get_messages(
        Qgis.Success))


def test_the_log_never_gets_id_or_phone_numbers(plugin, qgis_iface):
    """Messages go to the message bar as they are, and to QGIS's log with ID and phone
    numbers masked: the log is kept and copied into bug reports."""
    from qgis.core import QgsApplication

    logged = []

    def keep(message, tag, level):
        logged.append(message)

    log = QgsApplication.messageLog()
    log.messageReceived.connect(keep)
    try:
        plugin._error("party.phone '+225 07 98 99 76 20' has letters (CI0012345678)")
        plugin._warning("ID number DEMO643215764 is used by two persons")
        plugin._success("Saved Awa Koné, phone 0707123456")
    finally:
        log.messageReceived.disconnect(keep)
    text = "\n".join(logged)
    assert len(logged) == 3 and "Awa Koné" in text  # names are not what is masked here
    for secret in ("98 99 76 20", "0012345678", "643215764", "0707123456"):
        assert secret not in text
    shown = "\n".join(m for level in (Qgis.Critical, Qgis.Warning, Qgis.Success)
                      for m in qgis_iface.messageBar().get_messages(level))
    assert "643215764" in shown
