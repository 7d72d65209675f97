"""The plugin's cadastre actions: check geometry, import cadastre or structures, export,
split and merge parcels (issue #6).

A mixin of StdmPlugin, like StoreSafetyActions and AdjudicationActions (whose
``open_signed_in_store`` gives every write the person signed in). The
geometry check and the export run as QgsTasks with progress and Cancel,
each on its own connection; the import and the reconciliation read one
file and run in the dialog that shows their report. Each menu action asks
with a dialog, then calls a dialog-free public method that tests and
scripts call directly. The split tool and the merge are in parcel_tools.py.
"""
from __future__ import annotations

import os
from typing import Any, Optional

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMessageBox

from ...core.cadastre.reconcile import reconcile
from ...core.cadastre.structures import import_structures
from ...core.exchange.export import export_changes, export_store
from ...core.store.errors import StdmError
from ...core.store.store import default_actor
from ...qgis.cadastre.geometry_task import (
    GeometryCheckTask,
    RepairPreview,
    RepairRequest,
    StoreTask,
    TaskOutcome,
    preview_repair,
    reconciliation_layer,
    repair,
    status_names,
    store_group,
    summary_line,
)
from ...qgis.i18n import tr
from ...qgis.project.project import refresh_layers, store_layers
from ...qgis.store.sources import CredentialsError, SpatiaLiteSource, open_store
from ..store.sign_in_actions import NO_STORE_SHOWN, store_key
from .import_dialog import RECONCILE, CadastreRequest
from .parcel_tools import ParcelToolActions


class CadastreActions(ParcelToolActions):
    """Mixed into StdmPlugin, whose __init__ sets ``geometry_dock``, ``geometry_task``,
    ``export_task``, ``split_tool``, ``cadastre_dialog`` and ``export_key_box`` to None."""

    def cadastre_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        return (
            (tr("Check geometry…"), self.check_geometry_of_store,
             tr("Find invalid geometries, overlaps, duplicates, gaps and parcels or structures "
                "out of place in the store shown in this project, and repair them safely"),
             False),
            (tr("Import cadastre or structures…"), self.import_cadastre,
             tr("Import building footprints as structures, or compare a cadastre's parcels "
                "with the enumerated ones (Shapefile, GeoPackage, GeoJSON)"), False),
            (tr("Export…"), self.export_store_files,
             tr("Write parcels, structures, parties, tenure and certificates (or the parcels "
                "changed since a date) to GeoPackage, Shapefile, GeoJSON or CSV, with a data "
                "dictionary and the personal data you choose"), False),
            (tr("Split parcel"), self.split_parcel,
             tr("Cut a parcel in two or more along a line drawn on the map, keeping its "
                "lineage and, if you confirm, its claims"), False),
            (tr("Merge selected parcels"), self.merge_selected_parcels,
             tr("Make one parcel of the neighbouring parcels selected on the map, keeping "
                "their lineage and, if you confirm, their claims"), False),
        )

    # --- check geometry ----------------------------------------------------------------------
    def check_geometry_of_store(self):
        """Open the problems dock on the store shown and check it; returns the task."""
        dock = self.open_geometry_dock()
        return None if dock is None else self.start_geometry_check(dock.settlement_id())

    def open_geometry_dock(self):
        from .geometry_check_dock import GeometryCheckDock

        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        dock = self.geometry_dock
        if dock is not None and dock.property("stdm_store_key") == store_key(source):
            dock.show()
            dock.raise_()
            return dock
        self.close_geometry_dock()
        settlements = self._settlement_choices(source)
        if settlements is None:
            return None
        dock = GeometryCheckDock(source.label, settlements, self.iface.mapCanvas(),
                                 self.start_geometry_check, self.preview_repair,
                                 self.apply_repair, self.iface.mainWindow())
        dock.setProperty("stdm_store_key", store_key(source))
        self.iface.addDockWidget(Qt.RightDockWidgetArea, dock)
        dock.show()
        self.geometry_dock = dock
        return dock

    def start_geometry_check(self, settlement_id: Optional[str] = None, keep_row: int = -1):
        """Check the store shown (one settlement, or all) in the background; returns the task."""
        if self.geometry_task is not None:
            self._warning(tr("A geometry check is running; wait for it, or cancel it in the "
                             "task bar."))
            return None
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        try:
            task = GeometryCheckTask(source, source.label, self._actor(source), settlement_id,
                                     lambda outcome: self._geometry_checked(outcome, keep_row))
        except CredentialsError as error:
            self._error(tr("The store could not be opened: {0}").format(error))
            return None
        self.geometry_task = task  # QGIS does not keep the Python object alive
        if self.geometry_dock is not None:
            self.geometry_dock.checking(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def _geometry_checked(self, outcome: TaskOutcome, keep_row: int) -> None:
        self.geometry_task = None
        if self.menu is None:  # the plugin was unloaded meanwhile
            return
        dock = self.geometry_dock
        if outcome.result is None:
            message = (tr("The geometry check of {0} was cancelled.").format(outcome.label)
                       if outcome.cancelled else
                       tr("The geometry check of {0} failed: {1}").format(outcome.label,
                                                                         outcome.error))
            (self._warning if outcome.cancelled else self._error)(message)
            if dock is not None:
                dock.check_failed(message)
            return
        report = outcome.result
        summary = summary_line(report, outcome.label)
        if outcome.error:  # the report is there, its layers are not
            self._error(outcome.error)
        (self._success if report.ok else self._warning)(summary)
        if dock is not None:
            group = store_group(QgsProject.instance(), outcome.label)
            dock.show_report(report, summary, outcome.layers,
                             store_layers(group) if group is not None else {}, keep_row)

    def preview_repair(self, request: RepairRequest) -> RepairPreview:
        """What a repair would change (the core's refusal is raised, with the reason)."""
        store, _source = self._opened_or_raise()
        with store:
            return preview_repair(store, request)

    def apply_repair(self, request: RepairRequest) -> bool:
        """Write a repair, refresh the map and check again; the message bar says how it went."""
        opened = self.open_signed_in_store()
        if opened is None:
            return False
        store, _source = opened
        with store:
            try:
                fix = repair(store, request)
            except StdmError as error:
                self._error(tr("The repair was not made: {0}").format(error))
                return False
        self._refresh_shown()
        self._success(tr("{0} Area {1:,.2f} m² → {2:,.2f} m².").format(
            fix.message, fix.area_before_m2, fix.area_after_m2))
        dock = self.geometry_dock
        if dock is not None:
            self.start_geometry_check(dock.settlement_id(), keep_row=dock.current_row())
        return True

    def close_geometry_dock(self) -> None:
        dock, self.geometry_dock = self.geometry_dock, None
        if dock is not None:
            self.iface.removeDockWidget(dock)
            dock.close()
            dock.deleteLater()

    # --- import cadastre or structures ---------------------------------------------------------
    def import_cadastre(self):
        """The dialog on the store shown; it stays open with each report. Returns it."""
        from .import_dialog import CadastreDialog

        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        settlements = self._settlement_choices(source)
        if settlements is None:
            return None
        dialog = CadastreDialog(source.label, settlements, self.run_cadastre,
                                self.iface.mainWindow())
        self.cadastre_dialog = dialog
        dialog.exec_()
        self.cadastre_dialog = None
        return dialog

    def run_cadastre(self, request: CadastreRequest) -> tuple[Any, str]:
        """Import or reconcile as asked; (report, "") or (None, why not)."""
        opened = self.open_signed_in_store()
        if opened is None:
            return None, tr("The store could not be opened; see the message bar.")
        store, source = opened
        name = os.path.basename(request.path)
        try:
            with store:
                if request.action == RECONCILE:
                    result = reconcile(store, request.path, request.settlement_id,
                                       layer=request.layer, id_field=request.id_field,
                                       source_crs=request.source_crs,
                                       min_overlap=request.min_overlap,
                                       boundary_tolerance_m2=request.tolerance_m2)
                    srid = store.srid
                else:
                    result = import_structures(store, request.path, request.settlement_id,
                                               layer=request.layer, mode=request.mode,
                                               source_crs=request.source_crs)
        except StdmError as error:
            message = tr("{0} was not read: {1}").format(name, error)
            self._error(message)
            return None, message
        if request.action == RECONCILE:
            self._show_reconciliation(result, source, srid, name)
            self._success(tr("Compared {0} with the enumerated parcels: {1}").format(
                name, "; ".join(f"{n} {status_names()[s]}" for s, n in _status_totals(
                    result).items() if n)))
        elif result.written:
            self._refresh_shown()
            (self._success if result.ok else self._warning)(tr(
                "Imported {0} structure(s) from {1}; {2} feature(s) rejected.").format(
                result.imported, name, result.rejected))
        else:
            self._error(tr("No structure was imported from {0}: {1} feature(s) with "
                           "problems.").format(name, result.rejected))
        return result, ""

    def _show_reconciliation(self, result, source, srid: int, name: str) -> None:
        layer = reconciliation_layer(result, srid, name)
        project = QgsProject.instance()
        group = store_group(project, source.label)
        project.addMapLayer(layer, group is None)
        if group is not None:
            group.insertLayer(0, layer)

    # --- export --------------------------------------------------------------------------------
    def export_store_files(self):
        from ..exchange.export_dialog import ExportDialog

        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        settlements = self._settlement_choices(source)
        if settlements is None:
            return None
        crs = self._shown_crs()
        folder = os.path.dirname(os.path.abspath(source.path)) \
            if isinstance(source, SpatiaLiteSource) else os.path.expanduser("~")
        dialog = ExportDialog(source.label, crs, settlements, folder, self.iface.mainWindow())
        if not dialog.exec_():
            return None
        return self.start_export(dialog.request())

    def start_export(self, request):
        """Export the store shown in the background (the core has no finer progress than
        started and done); returns the task."""
        if self.export_task is not None:
            self._warning(tr("An export is running; wait for it to finish."))
            return None
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None

        def work(store, task: StoreTask):
            task.progress(1, 10)
            if request.since:
                return export_changes(store, request.since, request.target,
                                      format=request.format, crs=request.crs or None,
                                      settlement_id=request.settlement_id,
                                      personal_data=request.personal_data)
            return export_store(store, request.target, format=request.format,
                                crs=request.crs or None, layers=request.layers,
                                personal_data=request.personal_data,
                                settlement_id=request.settlement_id,
                                include_retired=request.include_retired,
                                pseudonym_key=request.pseudonym_key)

        try:
            task = StoreTask(tr("Exporting {0}").format(source.label), source, source.label,
                             self._actor(source), work, self._exported,
                             read_only=isinstance(source, SpatiaLiteSource))
        except CredentialsError as error:
            self._error(tr("The store could not be opened: {0}").format(error))
            return None
        self.export_task = task
        QgsApplication.taskManager().addTask(task)
        return task

    def _exported(self, outcome: TaskOutcome) -> None:
        self.export_task = None
        if self.menu is None:
            return
        if outcome.result is None:
            if outcome.cancelled:
                self._warning(tr("The export of {0} was cancelled; nothing was written.").format(
                    outcome.label))
            else:
                self._error(tr("Nothing was exported: {0}").format(outcome.error))
            return
        result = outcome.result
        counts = result.change_counts or result.feature_counts
        what = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
        message = tr("Exported {0} ({1}, {2}, personal data: {3}) to {4}. Data dictionary: "
                     "{5}").format(what, result.format, result.crs, result.personal_data,
                                   os.path.dirname(result.dictionary_path),
                                   result.dictionary_path)
        if result.warnings:
            message += " " + " ".join(result.warnings)
        (self._warning if result.warnings else self._success)(message)
        if result.pseudonym_key:
            self._show_pseudonym_key(result.pseudonym_key)

    def _show_pseudonym_key(self, key: str) -> None:
        """The key is shown once, never logged: keep it to give later exports the same
        pseudonyms, or throw it away so that nobody can test a guess against them."""
        box = QMessageBox(QMessageBox.Information, tr("Pseudonym key"), tr(
            "The pseudonyms of this export were made with this secret key. Keep it somewhere "
            "safe to export again with the same pseudonyms, or forget it; it is not saved "
            "anywhere."), QMessageBox.Ok, self.iface.mainWindow())
        box.setDetailedText(key)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setModal(False)
        box.show()
        self.export_key_box = box

    # --- shared ----------------------------------------------------------------------------------
    def close_cadastre_tools(self) -> None:
        """On unload: the dock closed, the split tool unset, the tasks cancelled."""
        self.close_geometry_dock()
        self.stop_split_tool()
        for task in (self.geometry_task, self.export_task):
            if task is not None:
                task.cancel()
        for window in (self.cadastre_dialog, self.export_key_box):
            if window is not None:
                window.close()
        self.cadastre_dialog = self.export_key_box = None

    def _settlement_choices(self, source) -> Optional[list[tuple[str, str]]]:
        try:
            with open_store(source) as store:
                return [(s.id, f"{s.code} — {s.name}")
                        for s in store.settlements.find(order_by="code")]
        except (StdmError, CredentialsError) as error:
            self._error(tr("The store could not be opened: {0}").format(error))
            return None

    def _opened_or_raise(self):
        opened = self.open_signed_in_store()
        if opened is None:
            raise StdmError(tr("The store could not be opened; see the message bar."))
        return opened

    def _actor(self, source) -> str:
        signed = self.signed_in.get(store_key(source))
        return signed.login if signed else default_actor()

    def _shown_layers(self) -> dict:
        source = self._shown_source()
        group = store_group(QgsProject.instance(), source.label) if source else None
        return store_layers(group) if group is not None else {}

    def _refresh_shown(self) -> None:
        refresh_layers(self._shown_layers())

    def _shown_crs(self) -> str:
        layers = self._shown_layers()
        return layers["parcels"].crs().authid() if "parcels" in layers else ""


def _status_totals(result) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in result.counts().values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    return totals
