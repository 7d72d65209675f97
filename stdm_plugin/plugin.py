"""The QGIS entry: menu, toolbar and the actions that wire the dialogs to the core."""
from __future__ import annotations

import os

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsProject
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QFileDialog, QMenu

from .core import Settlement, SettlementStore, StdmError
from .core.store.redaction import redact
from .core.store.store import default_actor
from .gui.adjudication.actions import AdjudicationActions
from .gui.cadastre.actions import CadastreActions
from .gui.certificates.actions import CertificateActions
from .gui.certificates.register_actions import RegisterActions
from .gui.packages.actions import FieldPackageActions
from .gui.safety.actions import StoreSafetyActions
from .gui.store.sign_in_actions import SignInActions
from .qgis.i18n import tr, user_language
from .qgis.project.project import StoreLayerError, add_store_to_project
from .qgis.store.sources import CredentialsError

PLUGIN_DIR = os.path.dirname(__file__)
LOG_TAG = "STDM"


class StdmPlugin(StoreSafetyActions, AdjudicationActions, SignInActions, CertificateActions,
                 RegisterActions, CadastreActions, FieldPackageActions):
    def __init__(self, iface) -> None:
        self.iface = iface
        self.menu: QMenu | None = None
        self.toolbar = None
        self.actions: list[QAction] = []
        self.wizard = None  # the open "Enumerate household" wizard, one at a time
        self.import_task = None  # the running import, one at a time (one store writer)
        self.report_dialog = None  # the report of the last import
        self.signed_in: dict = {}  # store key -> who is signed in to it, this QGIS session
        self.adjudication_dialog = None  # the open "Adjudicate claims" window, one at a time
        self.issue_task = None  # the running certificate batch, one at a time
        self.issue_report_dialog = None  # the report of the last certificate batch
        self.register_dialog = None  # the open "Certificate register" window
        self.verify_dialog = None  # the open "Verify certificate" window
        self.processing_provider = None  # the "stdm" Processing provider, while registered
        self.geometry_dock = None  # the "Geometry problems" dock of the last check
        self.geometry_task = None  # the running geometry check, one at a time
        self.export_task = None  # the running export, one at a time
        self.split_tool = None  # the "Split parcel" map tool, while it is the canvas's
        self.cadastre_dialog = None  # the open "Import cadastre or structures" dialog
        self.export_key_box = None  # the pseudonym key of the last export, shown once

    # --- QGIS hooks ----------------------------------------------------------
    def initProcessing(self) -> None:
        """Register the Processing provider; qgis_process calls this alone, with no GUI."""
        if self.processing_provider is not None:
            return
        from .qgis.processing_provider import StdmProvider

        provider = StdmProvider()
        if QgsApplication.processingRegistry().addProvider(provider):
            self.processing_provider = provider  # QGIS needs the Python object kept alive
        else:
            QgsMessageLog.logMessage(tr("The STDM Processing provider could not be registered "
                                        "(another provider has its id)."), LOG_TAG,
                                     Qgis.Warning)

    def initGui(self) -> None:
        self.initProcessing()
        icon = QIcon(os.path.join(PLUGIN_DIR, "resources", "icon.svg"))
        self.menu = QMenu(tr("STDM"), self.iface.mainWindow().menuBar())
        self.menu.setObjectName("stdmMenu")
        self.toolbar = self.iface.addToolBar(tr("STDM"))
        self.toolbar.setObjectName("stdmToolbar")
        group_starts = (self.enumerate_household, self.check_consistency, self.sign_in_user,
                        self.check_geometry_of_store)
        for text, slot, tip, on_toolbar in (
            (tr("New settlement store…"), self.new_store,
             tr("Create a SpatiaLite settlement store and show it in this project"), True),
            (tr("Open settlement store…"), self.open_store,
             tr("Show an existing settlement store in this project"), True),
            (tr("New settlement store on PostGIS…"), self.new_postgis_store,
             tr("Create a settlement store in a PostgreSQL/PostGIS schema"), False),
            (tr("Open settlement store on PostGIS…"), self.open_postgis_store,
             tr("Show a settlement store held in PostgreSQL/PostGIS"), False),
            (tr("Publish settlement store to PostGIS…"), self.publish_store,
             tr("Copy a SpatiaLite store into a new PostGIS schema, with a count check"),
             False),
            (tr("Enumerate household…"), self.enumerate_household,
             tr("Record a household, its members and their tenure claims on a parcel picked "
                "or drawn on the map, in the store shown in this project"), True),
            (tr("Export form for ODK/KoBo…"), self.export_form,
             tr("Write the enumeration form as an XLSForm for ODK Collect, KoBoCollect or "
                "KoBoToolbox, with the store's code lists in every language"), False),
            (tr("Import submissions…"), self.import_submissions,
             tr("Load what ODK Central or KoBoToolbox exported (CSV or XLSX, with photos) into "
                "the store shown in this project, with a report of every row not imported"),
             False),
            *self.field_package_menu_entries(),
            *self.safety_menu_entries(),
            *self.sign_in_menu_entries(),
            *self.adjudication_menu_entries(),
            *self.certificate_menu_entries(),
            *self.register_menu_entries(),
            *self.cadastre_menu_entries(),
        ):
            if slot in group_starts:  # the menu reads in groups: stores, enumeration,
                self.menu.addSeparator()  # safety, adjudication and certificates, cadastre
            action = QAction(icon, text, self.iface.mainWindow())
            action.setStatusTip(tip)
            action.triggered.connect(slot)
            self.menu.addAction(action)
            if on_toolbar:
                self.toolbar.addAction(action)
            self.actions.append(action)
        self.tasks: list = []
        bar = self.iface.mainWindow().menuBar()
        help_menu = self.iface.firstRightStandardMenu()
        if isinstance(help_menu, QMenu):  # before Help, as QGIS's own menus do
            bar.insertMenu(help_menu.menuAction(), self.menu)
        else:
            bar.addMenu(self.menu)

    def unload(self) -> None:
        if self.processing_provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.processing_provider)
            self.processing_provider = None
        if self.wizard is not None:
            self.wizard.close()
        if self.import_task is not None:
            self.import_task.cancel()  # rolls back: the store stays as it was
        if self.issue_task is not None:
            self.issue_task.cancel()  # stops between certificates; those issued stay
        if self.safety_task is not None:
            self.safety_task.cancel()  # a cancelled backup or restore leaves no file
        if self.issue_report_dialog is not None:
            self.issue_report_dialog.close()
        if self.report_dialog is not None:
            self.report_dialog.close()
        self.close_certificate_windows()  # the register and verification windows
        self.close_cadastre_tools()  # the problems dock, the split tool, check and export
        self.close_field_package_tools()  # a package being cut leaves nothing
        for action in self.actions:
            self.iface.removeToolBarIcon(action)
        self.actions.clear()
        if self.menu is not None:
            self.menu.deleteLater()
            self.menu = None
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None

    # --- actions -------------------------------------------------------------
    def new_store(self) -> None:
        from .gui.store.store_dialog import NewStoreDialog

        dialog = NewStoreDialog(self.iface.mainWindow())
        if not dialog.exec_():
            return
        path = dialog.store_path()
        if not path:
            self._error(tr("Choose a file for the new store."))
            return
        self.create_store(path, dialog.crs_authid(), dialog.settlement())

    def open_store(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.iface.mainWindow(), tr("Open settlement store"), "",
            tr("SpatiaLite settlement store (*.sqlite *.db);;All files (*)"))
        if path:
            self.show_store(path)

    def new_postgis_store(self) -> None:
        from .gui.store.postgres_dialog import PostgresStoreDialog

        dialog = PostgresStoreDialog("new", self.iface.mainWindow())
        if dialog.exec_():
            self.create_postgis_store(dialog.connection(), dialog.crs_authid(),
                                      dialog.settlement())

    def open_postgis_store(self) -> None:
        from .gui.store.postgres_dialog import PostgresStoreDialog

        dialog = PostgresStoreDialog("open", self.iface.mainWindow())
        if dialog.exec_():
            self.show_postgis_store(dialog.connection())

    def publish_store(self) -> None:
        from .gui.store.postgres_dialog import PostgresStoreDialog

        path, _ = QFileDialog.getOpenFileName(
            self.iface.mainWindow(), tr("Store to publish"), "",
            tr("SpatiaLite settlement store (*.sqlite *.db);;All files (*)"))
        if not path:
            return
        dialog = PostgresStoreDialog("publish", self.iface.mainWindow())
        if dialog.exec_():
            self.start_publish(path, dialog.connection())

    # --- the work, callable without dialogs (tests, scripts) -------------------
    def create_store(self, path: str, crs: str, settlement: tuple[str, str] | None) -> bool:
        try:
            with SettlementStore.create(path, crs or "") as store:
                if settlement:
                    store.settlements.add(Settlement(code=settlement[0], name=settlement[1]))
                add_store_to_project(QgsProject.instance(), store, user_language())
        except (StdmError, StoreLayerError) as error:
            self._error(tr("The store was not created: {0}").format(error))
            return False
        self._success(tr("Created the settlement store {0}").format(path))
        return True

    def show_store(self, path: str) -> bool:
        try:
            with SettlementStore.open(path) as store:
                version = store.schema_version
                add_store_to_project(QgsProject.instance(), store, user_language())
        except (StdmError, StoreLayerError) as error:
            self._error(tr("The store was not opened: {0}").format(error))
            return False
        self._success(tr("Opened the settlement store {0} (schema {1})").format(path, version))
        return True

    def create_postgis_store(self, connection, crs: str,
                             settlement: tuple[str, str] | None) -> bool:
        try:
            with SettlementStore.create_postgis(connection.psycopg2_params(), connection.schema,
                                                crs or "") as store:
                if settlement:
                    store.settlements.add(Settlement(code=settlement[0], name=settlement[1]))
                add_store_to_project(QgsProject.instance(), store, user_language(), connection)
        except (StdmError, StoreLayerError, CredentialsError) as error:
            self._error(tr("The store was not created: {0}").format(error))
            return False
        self._success(tr("Created the settlement store {0}").format(connection.label))
        return True

    def show_postgis_store(self, connection) -> bool:
        try:
            with SettlementStore.open_postgis(connection.psycopg2_params(),
                                              connection.schema) as store:
                add_store_to_project(QgsProject.instance(), store, user_language(), connection)
        except (StdmError, StoreLayerError, CredentialsError) as error:
            self._error(tr("The store was not opened: {0}").format(error))
            return False
        self._success(tr("Opened the settlement store {0}").format(connection.label))
        return True

    def start_publish(self, path: str, connection):
        """Copy in a background task with progress and Cancel; returns the task."""
        from .qgis.store.tasks import PublishStoreTask

        def done(ok: bool, message: str) -> None:
            self.tasks.remove(task)
            (self._success if ok else self._error)(message)

        task = PublishStoreTask(path, connection, default_actor(), done)
        self.tasks.append(task)  # QGIS does not keep the Python object alive
        QgsApplication.taskManager().addTask(task)
        return task

    def export_form(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self.iface.mainWindow(), tr("Export the enumeration form for ODK/KoBo"),
            "stdm_enumeration.xlsx", tr("XLSForm (*.xlsx)"))
        if path:
            self.export_form_to(path)

    def export_form_to(self, path: str) -> bool:
        from .qgis.project.form_exchange import export_form_for_odk

        try:
            written, store = export_form_for_odk(QgsProject.instance(), path)
        except (StdmError, OSError) as error:
            self._error(tr("The form was not exported: {0}").format(error))
            return False
        if store:
            self._success(tr("Exported the form with the code lists of {0} to {1}").format(
                store, written))
        else:
            self._success(tr("Exported the form with the shipped code lists to {0} (show a "
                             "store first to include values added to its lists)").format(
                                 written))
        return True

    def import_submissions(self):
        """Ask for the export, mapping and mode, then import in the background (the task)."""
        from .gui.submissions.import_dialog import ImportDialog
        from .qgis.submissions.import_task import ImportSetupError, ImportTarget, own_form_files

        if self.import_task is not None:
            self._error(tr("An import is already running; wait for it to finish."))
            return None
        try:
            target = ImportTarget.for_project(QgsProject.instance(), self.iface.activeLayer())
        except ImportSetupError as error:
            self._error(str(error))
            return None
        dialog = ImportDialog(target.label, target.settlements, own_form_files(),
                              self.iface.mainWindow())
        if not dialog.exec_():
            return None
        return self.start_import(target, dialog.request())

    def start_import(self, target, request):
        """Import in a background task with progress and Cancel; returns the task (or None).

        The outcome comes back in the message bar and the report dialog.
        """
        from .qgis.store.sources import CredentialsError
        from .qgis.submissions.import_task import ImportSubmissionsTask

        try:
            mapping = request.load_mapping()
            task = ImportSubmissionsTask(target, request, mapping, default_actor(),
                                         self._import_done)
        except (StdmError, CredentialsError) as error:
            self._error(tr("The import did not start: {0}").format(error))
            return None
        self.import_task = task  # QGIS does not keep the Python object alive
        QgsApplication.taskManager().addTask(task)
        return task

    def _import_done(self, outcome) -> None:
        from .gui.submissions.import_report_dialog import (
            ImportReportDialog,
            outcome_of,
            summary_line,
        )
        from .qgis.project.project import refresh_layers

        self.import_task = None
        label = outcome.target.label
        if outcome.cancelled:
            self._warning(tr("The import into {0} was cancelled: nothing was imported, the store "
                             "is unchanged.").format(label))
            return
        report = outcome.report
        if report is None:
            self._error(tr("The import into {0} failed, nothing was imported: {1}").format(
                label, outcome.error))
            return
        if report.written:
            refresh_layers(outcome.target.layers(QgsProject.instance()))
        result = outcome_of(report)
        if result == "ok":
            self._success(tr("Imported into {0}: {1}").format(label, summary_line(report)))
        elif result == "partial":
            self._warning(tr("Imported into {0}, with rows left out: {1}").format(
                label, summary_line(report)))
        else:
            self._error(tr("Nothing was imported into {0}: {1}").format(
                label, summary_line(report)))
        if self.report_dialog is not None:
            self.report_dialog.close()
        self.report_dialog = ImportReportDialog(report, label, self.iface.mainWindow())
        self.report_dialog.show()

    def enumerate_household(self):
        """Open the wizard on the store shown in the project; returns it (or None).

        The wizard is not modal: the enumerator selects or draws the parcel on
        the map while it is open.
        """
        if self.wizard is not None:
            self.wizard.raise_()
            self.wizard.activateWindow()
            return self.wizard
        from .gui.forms.enumeration_wizard import EnumerationWizard
        from .qgis.project.enumeration_session import EnumerationSession, SessionError

        try:
            session = EnumerationSession.for_project(QgsProject.instance(),
                                                     self.iface.activeLayer())
        except SessionError as error:
            self._error(str(error))
            return None
        wizard = EnumerationWizard(
            session.form, session.store.lookups, session.layers["parcels"],
            session.settlement_choices(), user_language(), self.iface.mapCanvas(),
            lambda answers, site, parcel: self._save_enumeration(session, answers, site,
                                                                 parcel),
            self.iface.mainWindow(), existing_share=session.store.tenure.share_total)
        wizard.finished.connect(lambda _result: self._enumeration_closed(session))
        session.layers["parcels"].willBeDeleted.connect(wizard.reject)  # project closed
        self.wizard = wizard
        wizard.show()
        return wizard

    def _save_enumeration(self, session, answers: dict, settlement_id: str | None,
                          parcel_id: str | None) -> bool:
        try:
            saved = session.save(answers, settlement_id, parcel_id)
        except StdmError as error:
            self._error(tr("The household was not saved: {0}").format(error))
            return False
        self._success(tr("Saved the household {0} with {1} member(s) and {2} tenure claim(s) "
                         "on parcel {3}").format(saved["household"].group_name,
                                                 len(saved["members"]), len(saved["claims"]),
                                                 saved["parcel"].code))
        return True

    def _enumeration_closed(self, session) -> None:
        session.close()
        if self.wizard is not None:
            self.wizard.deleteLater()
        self.wizard = None

    # The log outlives the session (and is copied into bug reports): ID and phone
    # numbers a message quotes are masked there; the message bar shows them to the
    # user at the screen, who needs them to find the row.
    def _error(self, message: str) -> None:
        QgsMessageLog.logMessage(redact(message), LOG_TAG, Qgis.Warning)
        self.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Critical, 0)

    def _warning(self, message: str) -> None:
        QgsMessageLog.logMessage(redact(message), LOG_TAG, Qgis.Warning)
        self.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Warning, 0)

    def _success(self, message: str) -> None:
        QgsMessageLog.logMessage(redact(message), LOG_TAG, Qgis.Info)
        self.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Success, 8)
