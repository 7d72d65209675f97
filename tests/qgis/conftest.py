import pytest
from qgis.core import QgsProject
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SocialTenure, SpatialUnit
from stdm_plugin.plugin import StdmPlugin


@pytest.fixture
def filled_store(tmp_path):
    """A small store: one settlement, two parcels, a household of two sharing one parcel."""
    store = SettlementStore.create(tmp_path / "settlement.sqlite", 32630, actor="tester")
    site = store.settlements.add(Settlement(code="KOU", name="Koumassi Campement",
                                            boundary=box(399990, 589990, 400100, 590050)))
    parcels = store.spatial_units.add_many([
        SpatialUnit(kind="parcel", settlement_id=site.id, land_use="residential",
                    boundary=box(400000, 590000, 400020, 590015)),
        SpatialUnit(kind="parcel", settlement_id=site.id, land_use="commercial",
                    boundary=box(400020, 590000, 400045, 590015))])
    household = store.parties.add(Party(party_type="household", group_name="Famille Koné"))
    awa, issa = store.parties.add_many([
        Party(first_name="Awa", last_name="Koné", sex="female", household_role="head",
              group_party_id=household.id),
        Party(first_name="Issa", last_name="Koné", sex="male", household_role="spouse",
              group_party_id=household.id)])
    store.tenure.add_many([
        SocialTenure(party_id=awa.id, spatial_unit_id=parcels[0].id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2),
        SocialTenure(party_id=issa.id, spatial_unit_id=parcels[0].id, tenure_type="co_owner",
                     share_numerator=1, share_denominator=2)])
    store.info = {"parcels": parcels, "awa": awa, "issa": issa, "household": household}
    yield store
    store.close()


@pytest.fixture
def plugin(qgis_iface):
    """The plugin loaded into pytest-qgis's QGIS interface, with a clean message bar."""
    qgis_iface.messageBar().clear_messages()
    instance = StdmPlugin(qgis_iface)
    instance.initGui()
    yield instance
    instance.unload()
    QgsProject.instance().clear()
