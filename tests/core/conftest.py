"""Core fixtures. Every test that takes ``store`` runs on each backend:
SpatiaLite (a file) and PostGIS (a fresh schema on the session's server)."""
import pytest
from shapely.geometry import box

from stdm_plugin.core import Party, Settlement, SettlementStore, SpatialUnit

UTM_30N = 32630  # Abidjan
BACKENDS = ("spatialite", "postgis")


@pytest.fixture(params=BACKENDS)
def backend_name(request):
    return request.param


@pytest.fixture
def new_store(backend_name, tmp_path, request):
    """Make stores on the backend under test; they are closed after the test."""
    made = []

    def make(crs=UTM_30N, actor="tester"):
        if backend_name == "spatialite":
            store = SettlementStore.create(tmp_path / f"store{len(made)}.sqlite", crs,
                                           actor=actor)
        else:
            server = request.getfixturevalue("postgis_server")
            connection = {"host": server.host, "port": server.port, "user": server.user,
                          "dbname": server.dbname}
            store = SettlementStore.create_postgis(connection, server.fresh_schema(), crs,
                                                   actor=actor)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(new_store):
    return new_store()


@pytest.fixture
def outside(store):
    """Another connection writing plain SQL, as QGIS's own provider does."""
    if store.db.dialect == "spatialite":
        from stdm_plugin.core.store.spatialite import SpatiaLiteBackend

        other = SpatiaLiteBackend(store.path)
    else:
        from stdm_plugin.core.store.postgis import PostGISBackend

        other = PostGISBackend(store.db.connection_params, store.db.schema)
    yield other
    other.close()


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
