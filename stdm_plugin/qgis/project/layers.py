"""The QGIS layers that show a settlement store.

One layer per view a user works with: parcels and structures come from the
same ``spatial_unit`` table (LADM's one spatial unit class), filtered by
kind, so that tenure can point at either. Retired records are filtered
out: they stay in the store for the history, not on the map.
"""
from __future__ import annotations

from dataclasses import dataclass

from qgis.core import QgsVectorLayer

from ..i18n import tr

CURRENT = "end_lifespan_version IS NULL"


@dataclass(frozen=True)
class LayerSpec:
    key: str
    table: str
    geometry: str | None
    title: str
    where: str
    defaults: tuple[tuple[str, str], ...] = ()


def layer_specs() -> list[LayerSpec]:
    return [
        LayerSpec("settlements", "settlement", "boundary", tr("Settlements"), CURRENT),
        LayerSpec("parcels", "spatial_unit", "boundary", tr("Parcels"),
                  f"kind = 'parcel' AND {CURRENT}", (("kind", "'parcel'"),)),
        LayerSpec("structures", "spatial_unit", "boundary", tr("Structures"),
                  f"kind = 'structure' AND boundary IS NOT NULL AND {CURRENT}",
                  (("kind", "'structure'"),)),
        LayerSpec("structure_points", "spatial_unit", "location",
                  tr("Structures (GPS point only)"),
                  f"kind = 'structure' AND boundary IS NULL AND {CURRENT}",
                  (("kind", "'structure'"),)),
        LayerSpec("parties", "party", None, tr("Parties"), CURRENT),
        LayerSpec("tenure", "social_tenure", None, tr("Social tenure"), CURRENT),
        LayerSpec("documents", "supporting_document", None, tr("Supporting documents"), CURRENT),
        LayerSpec("code_lists", "lookup_label", None, tr("Code lists"), CURRENT),
    ]


def make_layer(source, spec: LayerSpec) -> QgsVectorLayer:
    """``source`` is a SpatiaLiteSource or PostgresConnection (sources.py)."""
    uri = source.layer_uri(spec.table, spec.geometry, spec.where)
    layer = QgsVectorLayer(uri, spec.title, source.provider)
    layer.setCustomProperty("stdm/layer_key", spec.key)
    return layer


def layer_key(layer) -> str | None:
    return layer.customProperty("stdm/layer_key")
