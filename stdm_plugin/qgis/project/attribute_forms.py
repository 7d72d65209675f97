"""Attribute forms for the store's layers: widgets, defaults, aliases, tabs.

The same rules the core enforces are shown in the forms (value lists from
the code lists, read-only computed fields, required fields), so editing a
feature with QGIS's own tools starts from the right values; the database
triggers and core still have the last word.
"""
from __future__ import annotations

from qgis.core import (
    QgsAttributeEditorContainer,
    QgsAttributeEditorField,
    QgsAttributeEditorRelation,
    QgsDefaultValue,
    QgsEditFormConfig,
    QgsEditorWidgetSetup,
    QgsFieldConstraints,
    QgsRelationManager,
    QgsVectorLayer,
)

from ...core.store.lookups import LOOKUP_FIELDS
from ...core.store.schema import PROVENANCE_COLUMNS
from ..i18n import tr

#: read-only in every form, on its "Record" tab; the provenance columns are written by
#: the merge of a field package (team, device, enumerator, package, when it came in)
RECORD_KEEPING = ("created_at", "created_by", "updated_at", "updated_by",
                  "begin_lifespan_version", "end_lifespan_version", *PROVENANCE_COLUMNS)
#: who a new or edited record is by; a field package project names its enumerator
ACTOR_EXPRESSION = "@user_account_name"
PARTY_NAME = ("CASE WHEN \"party_type\" = 'person' THEN trim(coalesce(\"first_name\", '') "
              "|| ' ' || coalesce(\"last_name\", '')) ELSE \"group_name\" END")
DATE_WIDGET = QgsEditorWidgetSetup("DateTime", {
    "field_format": "yyyy-MM-dd", "display_format": "yyyy-MM-dd", "calendar_popup": True,
    "allow_null": True})


def aliases() -> dict[str, str]:
    return {
        "code": tr("Code"), "name": tr("Name"), "settlement_id": tr("Settlement"),
        "land_use": tr("Land use"), "area_m2": tr("Area (m²)"), "address": tr("Address"),
        "remarks": tr("Remarks"), "parcel_id": tr("On parcel"), "party_type": tr("Party type"),
        "first_name": tr("First name"), "last_name": tr("Last name"),
        "group_name": tr("Household or group name"), "sex": tr("Sex"),
        "date_of_birth": tr("Date of birth"), "age_years": tr("Age (years)"),
        "id_document_type": tr("ID document"), "id_document_number": tr("ID number"),
        "phone": tr("Phone"), "household_role": tr("Role in household"),
        "group_party_id": tr("Household or group"), "party_id": tr("Party"),
        "spatial_unit_id": tr("Spatial unit"), "tenure_type": tr("Tenure type"),
        "share_numerator": tr("Share (numerator)"), "share_denominator": tr("Share (of)"),
        "start_date": tr("Since"), "evidence": tr("Evidence"),
        "document_type": tr("Document type"), "file_name": tr("File name"),
        "mime_type": tr("File type"), "sha256": tr("SHA-256"), "size_bytes": tr("Size (bytes)"),
        "storage": tr("Stored"), "social_tenure_id": tr("Tenure record"),
        "created_at": tr("Created (UTC)"), "created_by": tr("Created by"),
        "updated_at": tr("Updated (UTC)"), "updated_by": tr("Updated by"),
        "begin_lifespan_version": tr("Version since (UTC)"),
        "end_lifespan_version": tr("Retired (UTC)"),
        "prov_team": tr("Team"), "prov_device": tr("Device"),
        "prov_enumerator": tr("Enumerator"), "prov_package": tr("Field package"),
        "prov_at": tr("Came in (UTC)"),
    }


# layer key -> (general tab fields, [(tab title, [relation ids])])
def layouts() -> dict[str, tuple[list[str], list[tuple[str, list[str]]]]]:
    return {
        "settlements": (["code", "name"], [(tr("Parcels"), ["stdm_settlement_parcels"])]),
        "parcels": (["code", "settlement_id", "land_use", "area_m2", "address", "remarks"], [
            (tr("Tenure"), ["stdm_parcel_tenure"]),
            (tr("Structures"), ["stdm_parcel_structures", "stdm_parcel_points"]),
            (tr("Documents"), ["stdm_parcel_documents"])]),
        "structures": (["code", "settlement_id", "parcel_id", "land_use", "area_m2", "address",
                        "remarks"], [(tr("Tenure"), ["stdm_structure_tenure"]),
                                     (tr("Documents"), ["stdm_structure_documents"])]),
        "structure_points": (["code", "settlement_id", "parcel_id", "land_use", "address",
                              "remarks"], [(tr("Tenure"), ["stdm_point_tenure"])]),
        "parties": (["party_type", "first_name", "last_name", "group_name", "sex",
                     "date_of_birth", "age_years", "id_document_type", "id_document_number",
                     "phone", "household_role", "group_party_id", "remarks"], [
            (tr("Members"), ["stdm_household_members"]),
            (tr("Tenure"), ["stdm_party_tenure"]),
            (tr("Documents"), ["stdm_party_documents"])]),
        "tenure": (["party_id", "spatial_unit_id", "tenure_type", "share_numerator",
                    "share_denominator", "start_date", "evidence", "remarks"],
                   [(tr("Documents"), ["stdm_tenure_documents"])]),
        "documents": (["document_type", "file_name", "mime_type", "size_bytes", "storage",
                       "sha256", "party_id", "spatial_unit_id", "social_tenure_id"], []),
        "code_lists": (["category", "code", "lang", "label"], []),
    }


def configure_forms(layers: dict[str, QgsVectorLayer], manager: QgsRelationManager,
                    lang: str) -> None:
    """``manager`` already holds the store's relations (relations.py)."""
    names = aliases()
    for key, layer in layers.items():
        for index, field in enumerate(layer.fields()):
            if field.name() in names:
                layer.setFieldAlias(index, names[field.name()])
        _common_defaults(layer)
        _lookup_widgets(layer, key, layers["code_lists"], lang)
        _layout(layer, key, manager)
    _special_widgets(layers)
    for layer in layers.values():
        _resolve_relations(layer, manager)


def _resolve_relations(layer: QgsVectorLayer, manager: QgsRelationManager) -> None:
    """Copies of a form configuration drop the relation behind each relation editor
    (QGIS resolves them again only on project load), and a project written then
    would keep relation="" and show empty tabs; resolve them by id once more."""
    config = layer.editFormConfig()
    pending = list(config.invisibleRootContainer().children())
    while pending:
        element = pending.pop()
        if isinstance(element, QgsAttributeEditorContainer):
            pending.extend(element.children())
        elif isinstance(element, QgsAttributeEditorRelation):
            element.init(manager)
    layer.setEditFormConfig(config)


def _set_default(layer: QgsVectorLayer, field: str, expression: str,
                 on_update: bool = False) -> None:
    index = layer.fields().indexOf(field)
    if index >= 0:
        layer.setDefaultValueDefinition(index, QgsDefaultValue(expression, on_update))


def _widget(layer: QgsVectorLayer, field: str, setup: QgsEditorWidgetSetup) -> None:
    index = layer.fields().indexOf(field)
    if index >= 0:
        layer.setEditorWidgetSetup(index, setup)


def _read_only(layer: QgsVectorLayer, fields) -> None:
    config = layer.editFormConfig()
    for field in fields:
        index = layer.fields().indexOf(field)
        if index >= 0:
            config.setReadOnly(index, True)
    layer.setEditFormConfig(config)


def set_actor_defaults(layer: QgsVectorLayer, expression: str = ACTOR_EXPRESSION) -> None:
    """Who ``created_by`` and ``updated_by`` name when a feature is added or edited."""
    _set_default(layer, "created_by", expression)
    _set_default(layer, "updated_by", expression, on_update=True)


def _common_defaults(layer: QgsVectorLayer) -> None:
    _set_default(layer, "id", "uuid('WithoutBraces')")
    set_actor_defaults(layer)
    _widget(layer, "id", QgsEditorWidgetSetup("Hidden", {}))
    _read_only(layer, ("id", "code", "area_m2", "seq", "sha256", "size_bytes", "mime_type",
                       "storage", *RECORD_KEEPING))
    _widget(layer, "content", QgsEditorWidgetSetup("Hidden", {}))
    _widget(layer, "kind", QgsEditorWidgetSetup("Hidden", {}))
    _widget(layer, "seq", QgsEditorWidgetSetup("Hidden", {}))
    for field in ("date_of_birth", "start_date"):
        _widget(layer, field, DATE_WIDGET)


def _lookup_widgets(layer: QgsVectorLayer, key: str, code_lists: QgsVectorLayer,
                    lang: str) -> None:
    table = {"parcels": "spatial_unit", "structures": "spatial_unit",
             "structure_points": "spatial_unit", "parties": "party", "tenure": "social_tenure",
             "documents": "supporting_document"}.get(key)
    for (lookup_table, field), category in LOOKUP_FIELDS.items():
        if lookup_table != table:
            continue
        _widget(layer, field, QgsEditorWidgetSetup("ValueRelation", {
            "Layer": code_lists.id(), "LayerName": code_lists.name(),
            "LayerSource": code_lists.source(),
            "LayerProviderName": code_lists.providerType(),
            "Key": "code", "Value": "label", "OrderByValue": False,
            "AllowNull": field != "tenure_type", "AllowMulti": False,
            "FilterExpression": f"\"category\" = '{category}' AND \"lang\" = '{lang}'"}))


def _special_widgets(layers: dict[str, QgsVectorLayer]) -> None:
    settlements = layers["settlements"]
    for key in ("parcels", "structures", "structure_points"):
        layer = layers[key]
        _widget(layer, "settlement_id", QgsEditorWidgetSetup("ValueRelation", {
            "Layer": settlements.id(), "LayerName": settlements.name(), "Key": "id",
            "Value": "name", "AllowNull": False, "OrderByValue": True}))
        letter = "P" if key == "parcels" else "S"
        _set_default(layer, "seq", "coalesce(maximum(\"seq\"), 0) + 1")
        _set_default(layer, "code", (
            f"attribute(get_feature('{settlements.id()}', 'id', \"settlement_id\"), 'code')"
            f" || '-{letter}' || lpad(to_string(coalesce(maximum(\"seq\"), 0) + 1), 5, '0')"))
        _set_default(layer, "area_m2", "round($area, 2)" if key != "structure_points"
                     else "NULL", on_update=True)
        layer.setDisplayExpression('"code"')
    for key in ("structures", "structure_points"):
        _widget(layers[key], "parcel_id", QgsEditorWidgetSetup("RelationReference", {
            "Relation": f"stdm_parcel_{'structures' if key == 'structures' else 'points'}",
            "AllowNULL": True, "ShowForm": False, "MapIdentification": True}))
    parties = layers["parties"]
    parties.setDisplayExpression(PARTY_NAME)
    _widget(parties, "party_type", QgsEditorWidgetSetup("ValueMap", {"map": [
        {tr("Person"): "person"}, {tr("Household"): "household"}, {tr("Group"): "group"}]}))
    _set_default(parties, "party_type", "'person'")
    _widget(parties, "group_party_id", QgsEditorWidgetSetup("RelationReference", {
        "Relation": "stdm_household_members", "AllowNULL": True, "ShowForm": False,
        "FilterExpression": "\"party_type\" <> 'person'"}))
    tenure = layers["tenure"]
    _widget(tenure, "party_id", QgsEditorWidgetSetup("RelationReference", {
        "Relation": "stdm_party_tenure", "AllowNULL": False, "ShowForm": False}))
    _widget(tenure, "spatial_unit_id", QgsEditorWidgetSetup("RelationReference", {
        "Relation": "stdm_parcel_tenure", "AllowNULL": False, "ShowForm": False,
        "MapIdentification": True}))
    for field in ("share_numerator", "share_denominator"):
        _set_default(tenure, field, "1")
    index = tenure.fields().indexOf("share_numerator")
    tenure.setConstraintExpression(
        index, '"share_numerator" <= "share_denominator"',
        tr("The share cannot be more than the whole (numerator above denominator)."))
    tenure.setFieldConstraint(index, QgsFieldConstraints.ConstraintExpression,
                              QgsFieldConstraints.ConstraintStrengthHard)
    # "Awa Koné — Co-owner (1/2)": the party's own display name and the code list label
    tenure.setDisplayExpression(
        "represent_value(\"party_id\") || ' — ' || represent_value(\"tenure_type\") "
        "|| ' (' || \"share_numerator\" || '/' || \"share_denominator\" || ')'")
    layers["documents"].setDisplayExpression('"file_name"')


def _layout(layer: QgsVectorLayer, key: str, manager: QgsRelationManager) -> None:
    general_fields, tabs = layouts()[key]
    config = layer.editFormConfig()
    config.setLayout(QgsEditFormConfig.TabLayout)
    root = config.invisibleRootContainer()
    root.clear()
    fields = layer.fields()

    def field_item(name: str, parent):
        return QgsAttributeEditorField(name, fields.indexOf(name), parent)

    general = QgsAttributeEditorContainer(tr("General"), root)
    general.setIsGroupBox(False)
    for name in general_fields:
        if fields.indexOf(name) >= 0:
            general.addChildElement(field_item(name, general))
    root.addChildElement(general)
    for title, relation_ids in tabs:
        tab = QgsAttributeEditorContainer(title, root)
        tab.setIsGroupBox(False)
        for relation_id in relation_ids:
            relation = manager.relation(relation_id)
            element = QgsAttributeEditorRelation(relation, tab)
            element.setLabel(relation.name())
            element.setRelationWidgetTypeId("relation_editor")
            tab.addChildElement(element)
        root.addChildElement(tab)
    record = QgsAttributeEditorContainer(tr("Record"), root)
    record.setIsGroupBox(False)
    for name in RECORD_KEEPING:
        if fields.indexOf(name) >= 0:
            record.addChildElement(field_item(name, record))
    root.addChildElement(record)
    layer.setEditFormConfig(config)
