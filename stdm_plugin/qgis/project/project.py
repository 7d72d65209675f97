"""A QGIS project view of a settlement store: layers, relations, forms, styles.

Used by the plugin's "New/Open settlement store" (into the current project)
and by ``build.py demo`` and field packages (field_project.py), written to a
.qgz file that opens the store.
"""
from __future__ import annotations

from typing import Callable

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsLayerTreeGroup,
    QgsProject,
    QgsReferencedRectangle,
    QgsVectorLayer,
)

from ...core.settlement_store import SettlementStore
from ..forms.rules import apply_shipped_form_rules
from ..i18n import tr
from ..store.sources import source_for
from .attribute_forms import configure_forms
from .layers import layer_key, layer_specs, make_layer
from .relations import make_relations
from .styles import style_layers

SPATIAL_ORDER = ("structure_points", "structures", "parcels", "settlements")
TABLE_ORDER = ("parties", "tenure", "documents", "code_lists")


class StoreLayerError(RuntimeError):
    """QGIS could not read one of the store's tables as a layer."""


def build_layers(source) -> dict[str, QgsVectorLayer]:
    layers = {}
    for spec in layer_specs():
        layer = make_layer(source, spec)
        if not layer.isValid():
            raise StoreLayerError(tr("QGIS could not open the table {0} of {1}").format(
                spec.table, source.label))
        layers[spec.key] = layer
    return layers


def add_store_to_project(project: QgsProject, store: SettlementStore, lang: str = "en",
                         source=None) -> dict[str, QgsVectorLayer]:
    """Add the store's layers, relations and forms to ``project``; returns the layers.

    ``source`` says where QGIS reads the layers (default: where ``store`` is;
    the plugin passes a PostgresConnection carrying an authentication config).
    """
    source = source or source_for(store)
    layers = build_layers(source)
    group_name = tr("Settlement store: {0}").format(source.label)
    root = project.layerTreeRoot()
    old = root.findGroup(group_name)
    if old is not None:
        remove_store_from_project(project, old)
    first_layers = not project.mapLayers()
    project.addMapLayers(list(layers.values()), False)
    group = root.insertGroup(0, group_name)
    group.setCustomProperty("stdm/store", source.label)
    for key in SPATIAL_ORDER:
        group.addLayer(layers[key])
    tables = group.addGroup(tr("Tables"))
    for key in TABLE_ORDER:
        tables.addLayer(layers[key])
    tables.setExpanded(False)
    relations = {r.id(): r for r in make_relations(project, layers)}
    manager = project.relationManager()
    for relation in relations.values():
        manager.addRelation(relation)
    configure_forms(layers, manager, lang)
    apply_shipped_form_rules(layers, lang)
    style_layers(layers, store.lookups.labels("land_use", lang))
    if first_layers or not project.crs().isValid():
        project.setCrs(QgsCoordinateReferenceSystem(f"EPSG:{store.srid}"))
    project.setEllipsoid("EPSG:7030")  # WGS 84: $area in forms gives m² like the core
    project.writeEntry("stdm", "store", source.label)
    return layers


def store_groups(project: QgsProject) -> list[QgsLayerTreeGroup]:
    """The layer tree groups that show a store, top first."""
    return [group for group in project.layerTreeRoot().findGroups(True)
            if group.customProperty("stdm/store")]


def store_layers(group: QgsLayerTreeGroup) -> dict[str, QgsVectorLayer]:
    """A store group's layers by key ("parcels", "parties", ...), as build_layers gives."""
    return {layer_key(node.layer()): node.layer() for node in group.findLayers()
            if node.layer() is not None and layer_key(node.layer())}


def shown_store(project: QgsProject, active_layer=None
                ) -> tuple[QgsLayerTreeGroup, dict[str, QgsVectorLayer]] | None:
    """The store a command works on: the active layer's group, else the top store
    group; None when the project shows no store with a Parcels layer."""
    groups = store_groups(project)
    if not groups:
        return None
    group = next((g for g in groups if active_layer is not None
                  and g.findLayer(active_layer.id()) is not None), groups[0])
    layers = store_layers(group)
    return (group, layers) if "parcels" in layers else None


def refresh_layers(layers: dict[str, QgsVectorLayer]) -> None:
    """Show what the core wrote behind QGIS's back (new rows, new codes)."""
    for layer in layers.values():
        # The SpatiaLite provider counts features and measures the extent again only
        # when its filter changes; reload() and reloadData() keep the old count and extent.
        subset = layer.subsetString()
        layer.setSubsetString(subset + " ")
        layer.setSubsetString(subset)
        layer.triggerRepaint()


def remove_store_from_project(project: QgsProject, group: QgsLayerTreeGroup) -> None:
    ids = [node.layerId() for node in group.findLayers()]
    manager = project.relationManager()
    for relation_id, relation in list(manager.relations().items()):
        if relation.referencingLayerId() in ids or relation.referencedLayerId() in ids:
            manager.removeRelation(relation_id)
    project.removeMapLayers(ids)
    group.parent().removeChildNode(group)


def write_project(store: SettlementStore, project_path: str, lang: str = "en", *,
                  title: str | None = None,
                  prepare: Callable[[QgsProject, dict[str, QgsVectorLayer]], None] | None = None
                  ) -> str:
    """Write a .qgz that opens the store, with paths relative to the project.

    ``prepare(project, layers)`` adds what a kind of project needs on top of the
    store's layers, forms and relations (a field package's variables), before it is written.
    """
    project = QgsProject()
    try:
        project.setTitle(title or tr("Settlement store {0}").format(source_for(store).label))
        layers = add_store_to_project(project, store, lang)
        if prepare is not None:
            prepare(project, layers)
        extent = layers["parcels"].extent()
        if not extent.isEmpty():
            extent.scale(1.1)
            project.viewSettings().setDefaultViewExtent(
                QgsReferencedRectangle(extent, project.crs()))
        project.writeEntryBool("Paths", "/Absolute", False)
        if not project.write(project_path):
            raise StoreLayerError(tr("Could not write the project {0}: {1}").format(
                project_path, project.error()))
    finally:
        project.clear()
    return project_path
