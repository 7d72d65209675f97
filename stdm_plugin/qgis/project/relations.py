"""Relations between the store's layers, as QGIS relations.

They are what makes a parcel's form list its tenure records (and each
record its party), a household's form list its members, and so on.
"""
from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsProject, QgsRelation, QgsRelationContext

from ..i18n import tr


@dataclass(frozen=True)
class RelationSpec:
    id: str
    name: str
    child: str  # layer key of the referencing layer
    field: str  # its foreign key field
    parent: str  # layer key of the referenced layer
    composition: bool = False


def relation_specs() -> list[RelationSpec]:
    return [
        RelationSpec("stdm_parcel_tenure", tr("Tenure on this parcel"), "tenure",
                     "spatial_unit_id", "parcels"),
        RelationSpec("stdm_structure_tenure", tr("Tenure on this structure"), "tenure",
                     "spatial_unit_id", "structures"),
        RelationSpec("stdm_point_tenure", tr("Tenure on this structure"), "tenure",
                     "spatial_unit_id", "structure_points"),
        RelationSpec("stdm_party_tenure", tr("Tenure held by this party"), "tenure",
                     "party_id", "parties"),
        RelationSpec("stdm_household_members", tr("Members"), "parties", "group_party_id",
                     "parties"),
        RelationSpec("stdm_parcel_structures", tr("Structures on this parcel"), "structures",
                     "parcel_id", "parcels"),
        RelationSpec("stdm_parcel_points", tr("Structures (GPS point) on this parcel"),
                     "structure_points", "parcel_id", "parcels"),
        RelationSpec("stdm_settlement_parcels", tr("Parcels of this settlement"), "parcels",
                     "settlement_id", "settlements"),
        RelationSpec("stdm_parcel_documents", tr("Documents"), "documents", "spatial_unit_id",
                     "parcels"),
        RelationSpec("stdm_structure_documents", tr("Documents"), "documents",
                     "spatial_unit_id", "structures"),
        RelationSpec("stdm_party_documents", tr("Documents"), "documents", "party_id",
                     "parties"),
        RelationSpec("stdm_tenure_documents", tr("Documents"), "documents", "social_tenure_id",
                     "tenure"),
    ]


def make_relations(project: QgsProject, layers: dict) -> list[QgsRelation]:
    relations = []
    for spec in relation_specs():
        relation = QgsRelation(QgsRelationContext(project))
        relation.setId(spec.id)
        relation.setName(spec.name)
        relation.setReferencingLayer(layers[spec.child].id())
        relation.setReferencedLayer(layers[spec.parent].id())
        relation.addFieldPair(spec.field, "id")
        if spec.composition:
            relation.setStrength(QgsRelation.Composition)
        if not relation.isValid():
            raise RuntimeError(f"Relation {spec.id} between {spec.child} and {spec.parent} "
                               "is not valid")
        relations.append(relation)
    return relations
