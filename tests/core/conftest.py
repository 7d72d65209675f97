import pytest
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SpatialUnit

UTM_30N = 32630  # Abidjan


@pytest.fixture
def store(tmp_path):
    with SettlementStore.create(tmp_path / "settlement.sqlite", f"EPSG:{UTM_30N}",
                                actor="tester") as opened:
        yield opened


@pytest.fixture
def settlement(store):
    return store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))


@pytest.fixture
def parcel(store, settlement):
    return store.spatial_units.add(SpatialUnit(
        kind="parcel", settlement_id=settlement.id, land_use="residential",
        boundary=box(400000, 590000, 400020, 590015)))


@pytest.fixture
def household(store):
    return store.parties.add(Party(party_type="household", group_name="Famille Koné"))


@pytest.fixture
def person(store, household):
    return store.parties.add(Party(first_name="Awa", last_name="Koné", sex="female",
                                   household_role="head", group_party_id=household.id,
                                   id_document_type="national_id",
                                   id_document_number="CI0012345"))
