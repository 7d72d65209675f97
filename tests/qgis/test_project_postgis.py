"""The same project view and rules on a store held in PostGIS."""
import pytest
from qgis.core import QgsFeatureRequest, QgsProject, QgsVectorLayerUtils
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.qgis.project.project import add_store_to_project


@pytest.fixture
def pg_store(postgis_server):
    connection = {"host": postgis_server.host, "port": postgis_server.port,
                  "user": postgis_server.user, "dbname": postgis_server.dbname}
    store = SettlementStore.create_postgis(connection, postgis_server.fresh_schema(), 32630,
                                           actor="tester")
    site = store.settlements.add(Settlement(code="YOP", name="Yopougon"))
    parcel = store.spatial_units.add(SpatialUnit(kind="parcel", settlement_id=site.id,
                                                 boundary=box(0, 0, 20, 15)))
    awa = store.parties.add(Party(first_name="Awa", last_name="Koné"))
    store.tenure.add(SocialTenure(party_id=awa.id, spatial_unit_id=parcel.id,
                                  tenure_type="owner"))
    store.info = {"parcel": parcel, "awa": awa}
    yield store
    store.close()


def test_postgis_layers_relations_and_rules(pg_store):
    project = QgsProject()
    layers = add_store_to_project(project, pg_store)
    try:
        assert all(layer.isValid() for layer in layers.values())
        assert {layer.providerType() for layer in layers.values()} == {"postgres"}
        assert "password" not in layers["parcels"].source()
        parcels = layers["parcels"]
        assert parcels.featureCount() == 1
        assert parcels.crs().authid() == "EPSG:32630"
        feature = next(parcels.getFeatures())
        claims = list(project.relationManager().relation(
            "stdm_parcel_tenure").getRelatedFeatures(feature))
        assert [c["tenure_type"] for c in claims] == ["owner"]
        tenure = layers["tenure"]
        tenure.startEditing()
        extra = QgsVectorLayerUtils.createFeature(tenure)
        for name, value in (("party_id", pg_store.info["awa"].id),
                            ("spatial_unit_id", pg_store.info["parcel"].id),
                            ("tenure_type", "tenant"), ("share_numerator", 1),
                            ("share_denominator", 2)):
            extra[name] = value
        tenure.addFeature(extra)
        assert not tenure.commitChanges()
        assert any("more than 1" in error for error in tenure.commitErrors()), \
            tenure.commitErrors()
        tenure.rollBack()
        request = QgsFeatureRequest().setFilterExpression("\"code\" = 'YOP-P00001'")
        assert len(list(parcels.getFeatures(request))) == 1
    finally:
        project.clear()
