import os
import pathlib
import re
import zipfile

from qgis.core import QgsFeatureRequest, QgsProject

from stdm_plugin.qgis.project.project import add_store_to_project, write_project

DEMO_DATA = pathlib.Path(__file__).resolve().parents[2] / "demo" / "data"


def test_store_layers_are_valid_and_filtered(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        assert all(layer.isValid() for layer in layers.values())
        assert layers["parcels"].featureCount() == 2
        assert layers["structures"].featureCount() == 0
        assert layers["parties"].featureCount() == 3
        assert layers["parcels"].crs().authid() == "EPSG:32630"
        assert project.crs().authid() == "EPSG:32630"
    finally:
        project.clear()


def test_parcel_relation_lists_its_tenure_and_parties(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        manager = project.relationManager()
        tenure_rel = manager.relation("stdm_parcel_tenure")
        party_rel = manager.relation("stdm_party_tenure")
        assert tenure_rel.isValid() and party_rel.isValid()
        first = filled_store.info["parcels"][0]
        parcel = next(layers["parcels"].getFeatures(
            QgsFeatureRequest().setFilterExpression(f"\"id\" = '{first.id}'")))
        claims = list(tenure_rel.getRelatedFeatures(parcel))
        assert sorted(c["tenure_type"] for c in claims) == ["co_owner", "co_owner"]
        holders = {party_rel.getReferencedFeature(c)["first_name"] for c in claims}
        assert holders == {"Awa", "Issa"}
        members = manager.relation("stdm_household_members")
        household = next(layers["parties"].getFeatures(QgsFeatureRequest().setFilterExpression(
            "\"party_type\" = 'household'")))
        assert {m["first_name"] for m in members.getRelatedFeatures(household)} == {"Awa",
                                                                                   "Issa"}
    finally:
        project.clear()


def test_parcel_form_has_a_tenure_tab_with_the_relation_editor(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        config = layers["parcels"].editFormConfig()
        tabs = {tab.name(): tab for tab in config.tabs()}
        assert list(tabs)[:2] == ["General", "Tenure"]
        relation_ids = [child.relation().id() for child in tabs["Tenure"].children()]
        assert relation_ids == ["stdm_parcel_tenure"]
        sex = layers["parties"].editorWidgetSetup(layers["parties"].fields().indexOf("sex"))
        assert sex.type() == "ValueRelation"
        assert "'sex'" in sex.config()["FilterExpression"]
    finally:
        project.clear()


def test_written_project_reopens_with_layers_and_relations(filled_store, tmp_path):
    path = write_project(filled_store, str(tmp_path / "settlement.qgz"))
    assert os.path.exists(path)
    with zipfile.ZipFile(path) as packed:
        xml = next(packed.read(n) for n in packed.namelist() if n.endswith(".qgs")).decode()
    editors = re.findall(r"<attributeEditorRelation [^>]*>", xml)
    assert len(editors) >= 12
    assert all('relation=""' not in editor for editor in editors)
    project = QgsProject()
    try:
        assert project.read(path)
        by_name = {layer.name(): layer for layer in project.mapLayers().values()}
        assert {"Parcels", "Structures", "Parties", "Social tenure"} <= set(by_name)
        assert all(layer.isValid() for layer in by_name.values())
        assert by_name["Parcels"].featureCount() == 2
        assert len(project.relationManager().relations()) == 12
        assert project.ellipsoid() == "EPSG:7030"
    finally:
        project.clear()
