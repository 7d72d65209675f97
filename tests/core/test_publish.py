"""Publish a SpatiaLite store to PostGIS and bring it back as a field copy."""
import pytest
from test_demo_settlement import DEMO

from stdm_plugin.core import SettlementStore, StoreError
from stdm_plugin.core.demo.settlement import load_demo_settlement
from stdm_plugin.core.store.publish import RECORD_TABLES, copy_store


def snapshot(store):
    """Everything a user sees: records with geometry as WKB hex, and the code lists
    (whose own record keeping is the store's: each store seeds them when made)."""
    tables = {}
    tables["code lists"] = sorted((r["category"], r["code"], r["lang"], r["label"])
                                  for r in store.db.query("SELECT * FROM lookup_label"))
    for table in RECORD_TABLES:
        geometry = {"boundary", "location"} & set(store.db.columns(table))
        columns = [c for c in store.db.columns(table) if c not in geometry | {"content"}]
        select = ", ".join(columns + [f"{store.db.geometry_as_wkb(g)} AS {g}"
                                      for g in sorted(geometry)])
        rows = store.db.query(f"SELECT {select} FROM {table}")
        tables[table] = sorted((_plain(row, table) for row in rows), key=repr)
    return tables


def _plain(row, table):
    """A row as sorted (column, value) pairs, binary values as hex."""
    return tuple(sorted(
        ((k, bytes(v).hex() if isinstance(v, (bytes, memoryview)) else v)
         for k, v in row.items()), key=repr))


def test_publish_to_postgis_and_back_keeps_every_record(tmp_path, postgis_server):
    connection = {"host": postgis_server.host, "port": postgis_server.port,
                  "user": postgis_server.user, "dbname": postgis_server.dbname}
    with SettlementStore.create(tmp_path / "field.sqlite", 32630, actor="field") as field:
        load_demo_settlement(field, DEMO)
        party = field.parties.find()[0]
        field.parties.update(party.id, phone="+225 05 00 00 00 00")
        field.lookups.add_value("tenure_type", "usufruct", {"en": "Usufruct", "fr": "Usufruit"})
        field.documents.attach(b"%PDF-1.4 attestation", "attestation.pdf",
                               document_type="customary_attestation", party_id=party.id)
        schema = postgis_server.fresh_schema()
        with SettlementStore.create_postgis(connection, schema, 32630) as city:
            copied = copy_store(field, city)
            assert copied["spatial_unit"] == field.spatial_units.count()
            assert copied["lookup"] == 1
            assert snapshot(city) == snapshot(field)
            assert [v["values"]["phone"] for v in city.history("party", party.id)][:2] == [
                party.phone, "+225 05 00 00 00 00"]
            doc = city.documents.find()[0]
            assert city.documents.content(doc.id) == b"%PDF-1.4 attestation"
            with SettlementStore.create(tmp_path / "copy.sqlite", 32630) as back:
                copy_store(city, back)
                assert snapshot(back) == snapshot(field)


def test_copy_refuses_a_target_that_is_not_empty_or_in_another_crs(new_store):
    source = new_store()
    busy = new_store()
    load_demo_settlement(busy, DEMO)
    with pytest.raises(StoreError, match="already holds records"):
        copy_store(source, busy)
    with pytest.raises(StoreError, match="EPSG:4326"):
        copy_store(source, new_store(crs=4326))
