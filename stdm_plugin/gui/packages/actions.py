"""The plugin's "Create field package…" and "Merge field package…" actions (issue #5).

A mixin of StdmPlugin, like CadastreActions: it uses the plugin's ``iface``,
message helpers, ``_shown_source`` and, from AdjudicationActions, the
per-store sign-in (cutting a package needs a supervisor, land officer or
administrator once a store has users). The menu action asks with the
dialog, then ``start_field_package`` (dialog-free, for tests and scripts)
cuts the package in a QgsTask with a progress bar and Cancel in the message
bar; the outcome, the folder and its counts come back in the message bar,
and a pseudonymised package's key is shown once. The merge is another
engineer's module (merge_actions.py); this mixin only opens it.
"""
from __future__ import annotations

import os
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsVectorLayer, QgsWkbTypes
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMessageBox, QProgressBar, QPushButton

from ...core.packages.field_package import PackageRequest
from ...core.store.errors import StdmError
from ...core.store.store import default_actor
from ...core.store.users import allowed
from ...qgis.i18n import tr
from ...qgis.packages.cut_task import (
    CutPackageTask,
    PackageOutcome,
    PackageSetupError,
    PackageSource,
    block_choices,
    selected_area_wkt,
)
from ...qgis.store.sources import CredentialsError, SpatiaLiteSource
from ..store.sign_in_actions import NO_STORE_SHOWN, store_key

ACTION = "cut_field_package"


def counted_names() -> dict[str, str]:
    """How the message bar names each table a package counts; tr() at call time."""
    return {"spatial_unit": tr("parcels and structures"), "party": tr("parties"),
            "social_tenure": tr("tenure records"), "supporting_document": tr("documents")}


class FieldPackageActions:
    """Mixed into StdmPlugin; its __init__ need not set anything (class defaults)."""

    #: the running cut, one at a time (QGIS does not keep the Python object alive)
    package_task: Optional[CutPackageTask] = None
    #: the message bar item with the cut's progress bar and Cancel button
    package_progress = None
    #: the pseudonym key of the last package, shown once
    package_key_box: Optional[QMessageBox] = None

    def field_package_menu_entries(self) -> tuple:
        """(text, slot, tip, on toolbar) of the actions, for initGui's list."""
        return (
            (tr("Create field package…"), self.create_field_package,
             tr("Copy the blocks or the area selected on the map, with their claims, "
                "households and documents, into a folder a team opens in QGIS or QField "
                "without network"), False),
            (tr("Merge field package…"), self.merge_field_package,
             tr("Compare a package a team brought back with the store shown in this project, "
                "resolve the conflicts and merge it"), False),
        )

    # --- menu actions (dialogs) ------------------------------------------------------------
    def create_field_package(self) -> Optional[CutPackageTask]:
        """Ask for the team, area, personal data and folder, then cut; returns the task."""
        from .cut_dialog import SELECTION, FieldPackageDialog, SelectionArea

        if self._package_running():
            return None
        opened = self.open_signed_in_store()
        if opened is not None and not allowed(opened[0], ACTION):
            opened[0].close()  # nobody signed in who may: ask, as the other actions do
            opened = self.open_signed_in_store(ACTION)
        if opened is None:
            return None
        store, source = opened
        with store:
            try:
                blocks, srid = block_choices(store), store.srid
            except StdmError as error:
                self._error(tr("The blocks could not be read: {0}").format(error))
                return None
        layer = self._polygon_layer()
        selection = (SelectionArea(layer.name(), layer.selectedFeatureCount())
                     if layer is not None else None)
        base = (os.path.dirname(os.path.abspath(source.path))
                if isinstance(source, SpatiaLiteSource) else os.path.expanduser("~"))
        dialog = FieldPackageDialog(source.label, blocks, selection, base,
                                    self.iface.mainWindow())
        if not dialog.exec_():
            return None
        choice = dialog.choice()
        if choice.area == SELECTION:
            try:
                choice.request.area_wkt = selected_area_wkt(layer, srid)
            except PackageSetupError as error:
                self._error(str(error))
                return None
        return self.start_field_package(choice.folder, choice.request)

    def merge_field_package(self):
        from .merge_actions import merge_field_package

        return merge_field_package(self)

    # --- the work, callable without dialogs --------------------------------------------------
    def start_field_package(self, folder: str, request: PackageRequest,
                            forms_dir: Optional[str] = None) -> Optional[CutPackageTask]:
        """Cut ``request`` from the store shown into the new ``folder``, as the person
        signed in to it, in the background; returns the task (None, with the reason in the
        message bar, when it cannot start)."""
        if self._package_running():
            return None
        source = self._shown_source()
        if source is None:
            self._error(tr(NO_STORE_SHOWN))
            return None
        signed = self.signed_in.get(store_key(source))
        login = signed.login if signed else None
        origin = PackageSource(source, source.label, login, login or default_actor())
        try:
            task = CutPackageTask(origin, folder, request, self._package_done,
                                  self._language(), forms_dir)
        except (CredentialsError, StdmError) as error:
            self._error(tr("The package was not cut: {0}").format(error))
            return None
        self.package_task = task
        self._show_package_progress(task)
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel_field_package(self) -> None:
        if self.package_task is not None:
            self.package_task.cancel()

    # --- progress and outcome, on the main thread --------------------------------------------
    def _show_package_progress(self, task: CutPackageTask) -> None:
        bar = self.iface.messageBar()
        message = bar.createMessage(tr("STDM"), tr("Cutting the field package for {0}…").format(
            task.request.team))
        progress = QProgressBar()
        progress.setRange(0, 100)
        progress.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        cancel = QPushButton(tr("Cancel"))
        cancel.clicked.connect(task.cancel)
        message.layout().addWidget(progress)
        message.layout().addWidget(cancel)
        task.progressChanged.connect(lambda value: progress.setValue(int(value)))
        self.package_progress = bar.pushWidget(message, Qgis.Info, 0)

    def _hide_package_progress(self) -> None:
        item, self.package_progress = self.package_progress, None
        if item is not None:
            try:
                self.iface.messageBar().popWidget(item)
            except RuntimeError:  # closed by the user meanwhile
                pass

    def _package_done(self, outcome: PackageOutcome) -> None:
        self.package_task = None
        self._hide_package_progress()
        if self.menu is None:  # the plugin was unloaded meanwhile
            return
        if outcome.cancelled:
            self._warning(tr("Cutting the field package for {0} was cancelled; no package "
                             "was written and the store is unchanged.").format(outcome.team))
            return
        if outcome.package is None:
            self._error(tr("The field package for {0} was not cut: {1}").format(
                outcome.team, outcome.error))
            return
        if outcome.error:  # the package stands, its project does not
            self._error(outcome.error)
            return
        package = outcome.package
        counts = ", ".join(f"{package.counts.get(table, 0)} {name}"
                           for table, name in counted_names().items())
        message = tr("Field package for {0} written to {1}: {2}. Give the team the whole "
                     "folder; they open {3} in QGIS or QField.").format(
                         package.team, package.folder, counts,
                         os.path.basename(outcome.project))
        if package.missing_documents:
            self._warning(message + " " + tr("{0} document file(s) were missing in the store "
                                              "and are not in the package.").format(
                                                  len(package.missing_documents)))
        else:
            self._success(message)
        if outcome.key:
            self._show_package_key(package.folder, outcome.key)

    def _show_package_key(self, folder: str, key: str) -> None:
        """Shown once, never logged (the message bar and the log never see it)."""
        box = QMessageBox(QMessageBox.Warning, tr("Pseudonym key"), tr(
            "The names, ID and phone numbers in the package {0} were replaced by pseudonyms "
            "made with this secret key. Keep it somewhere safe, apart from the package: with "
            "it the office can tell which person of the store a pseudonym stands for, and "
            "give a later package the same pseudonyms. It is not saved anywhere.").format(
                folder), QMessageBox.Ok, self.iface.mainWindow())
        box.setDetailedText(key)
        box.setTextInteractionFlags(Qt.TextSelectableByMouse)
        box.setModal(False)
        box.show()
        self.package_key_box = box

    def close_field_package_tools(self) -> None:
        """On unload: the running cut cancelled (it leaves nothing), the key box closed."""
        self.cancel_field_package()
        self._hide_package_progress()
        if self.package_key_box is not None:
            self.package_key_box.close()
            self.package_key_box = None
        from .merge_actions import close_merge

        close_merge(self)  # a merge under way is cancelled, its windows closed

    def _package_running(self) -> bool:
        if self.package_task is None:
            return False
        self._warning(tr("A field package is being cut; wait for it to finish, or cancel "
                         "it."))
        return True

    def _polygon_layer(self) -> Optional[QgsVectorLayer]:
        layer = self.iface.activeLayer()
        if isinstance(layer, QgsVectorLayer) and layer.isValid() \
                and layer.geometryType() == QgsWkbTypes.PolygonGeometry:
            return layer
        return None
