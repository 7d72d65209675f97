"""One "Enumerate household" session on the store shown in the current project.

The wizard needs the store behind the layers the user sees: it is found
from the layer tree group the plugin made (custom property ``stdm/store``)
and opened from the Parcels layer's own source, which QGIS keeps absolute
and current when a project is moved or reopened, and which never carries a
PostgreSQL password. The session holds that core connection while the
wizard is open, saves through the core (one transaction) and refreshes
the layers afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qgis.core import QgsMapLayer, QgsProject, QgsVectorLayer

from ...core.forms.enumeration import save_enumeration
from ...core.forms.forms import EnumerationForm, FormDefinitionError, load_form
from ...core.settlement_store import SettlementStore
from ...core.store.errors import StdmError
from ...core.store.model import Settlement
from ..forms.rules import shipped_form_path
from ..i18n import tr
from ..store.sources import CredentialsError, NotAStoreLayerError, open_store, source_of_layer
from .project import refresh_layers, shown_store


class SessionError(RuntimeError):
    """Why enumeration cannot start; the message is for the message bar."""


@dataclass
class EnumerationSession:
    store: SettlementStore
    layers: dict[str, QgsVectorLayer]
    form: EnumerationForm
    settlements: list[Settlement]

    @classmethod
    def for_project(cls, project: QgsProject,
                    active_layer: QgsMapLayer | None = None) -> "EnumerationSession":
        """The store of the active layer's group, else the top store in the layer tree."""
        shown = shown_store(project, active_layer)
        if shown is None:
            raise SessionError(tr("Show a settlement store in this project first (STDM ▸ New "
                                  "or Open settlement store)."))
        group, layers = shown
        try:
            store = open_store(source_of_layer(layers["parcels"]))
        except (StdmError, CredentialsError, NotAStoreLayerError) as error:
            raise SessionError(tr("The store could not be opened: {0}").format(error)) from error
        try:
            settlements = store.settlements.find(order_by="code")
            if not settlements:
                raise SessionError(tr(
                    "The store {0} has no settlement yet: add one to its Settlements layer (a "
                    "code such as KOU and a name), then enumerate.").format(
                        group.customProperty("stdm/store")))
            form = load_form(shipped_form_path())
        except FormDefinitionError as error:
            store.close()
            raise SessionError(tr("The enumeration form cannot be used: {0}").format(
                error)) from error
        except BaseException:
            store.close()
            raise
        return cls(store, layers, form, settlements)

    def settlement_choices(self) -> list[tuple[str, str]]:
        return [(s.id, f"{s.code} — {s.name}") for s in self.settlements]

    def save(self, answers: dict[str, Any], settlement_id: str | None,
             parcel_id: str | None) -> dict[str, Any]:
        """All or nothing (the core's save_enumeration); raises StdmError on refusal."""
        saved = save_enumeration(self.store, self.form, answers,
                                 settlement_id or self.settlements[0].id, parcel_id)
        refresh_layers(self.layers)
        return saved

    def close(self) -> None:
        self.store.close()
