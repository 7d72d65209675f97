"""Editing with QGIS's own tools goes through the same rules as the core."""
from qgis.core import QgsFeature, QgsProject, QgsVectorLayerUtils

from stdm_plugin.qgis.project.project import add_store_to_project


def new_tenure(layer, party_id, unit_id, numerator, denominator):
    feature = QgsVectorLayerUtils.createFeature(layer)
    feature["party_id"] = party_id
    feature["spatial_unit_id"] = unit_id
    feature["tenure_type"] = "tenant"
    feature["share_numerator"] = numerator
    feature["share_denominator"] = denominator
    return feature


def test_qgis_edit_over_the_share_limit_is_refused_with_a_readable_reason(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        tenure = layers["tenure"]
        full_parcel = filled_store.info["parcels"][0].id
        tenure.startEditing()
        tenure.addFeature(new_tenure(tenure, filled_store.info["awa"].id, full_parcel, 1, 4))
        assert not tenure.commitChanges()
        assert any("more than 1" in error for error in tenure.commitErrors())
        tenure.rollBack()
        assert filled_store.tenure.count() == 2
    finally:
        project.clear()


def test_qgis_added_tenure_gets_a_uuid_and_the_qgis_user(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        tenure = layers["tenure"]
        free_parcel = filled_store.info["parcels"][1].id
        tenure.startEditing()
        feature = new_tenure(tenure, filled_store.info["issa"].id, free_parcel, 1, 1)
        assert len(feature["id"]) == 36
        assert feature["created_by"]
        assert tenure.addFeature(feature)
        assert tenure.commitChanges(), tenure.commitErrors()
        stored = filled_store.tenure.get(feature["id"])
        assert stored.spatial_unit_id == free_parcel
        assert stored.created_at.endswith("Z")
        assert filled_store.db.scalar("SELECT count(*) FROM audit_log WHERE record_id = ?",
                                      (feature["id"],)) == 1
    finally:
        project.clear()


def test_qgis_attribute_edit_is_kept_in_history(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        parties = layers["parties"]
        awa = filled_store.info["awa"]
        feature = next(f for f in parties.getFeatures() if f["id"] == awa.id)
        parties.startEditing()
        assert parties.changeAttributeValue(feature.id(), parties.fields().indexOf("phone"),
                                            "+225 07 11 22 33 44")
        assert parties.commitChanges(), parties.commitErrors()
        versions = filled_store.history("party", awa.id)
        assert [v["values"]["phone"] for v in versions] == [None, "+225 07 11 22 33 44"]
    finally:
        project.clear()


def test_an_empty_feature_is_refused_by_the_store(filled_store):
    project = QgsProject()
    layers = add_store_to_project(project, filled_store)
    try:
        tenure = layers["tenure"]
        tenure.startEditing()
        tenure.addFeature(QgsFeature(tenure.fields()))
        assert not tenure.commitChanges()
        tenure.rollBack()
    finally:
        project.clear()
