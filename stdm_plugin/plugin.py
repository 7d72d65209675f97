"""The QGIS entry: menu, toolbar and the actions that wire the dialogs to the core."""
from __future__ import annotations

import os

from qgis.core import Qgis, QgsMessageLog, QgsProject, QgsSettings
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QFileDialog, QMenu

from .core import Settlement, SettlementStore, StdmError
from .core.lookups import LANGUAGES
from .qgis.i18n import tr
from .qgis.project import StoreLayerError, add_store_to_project

PLUGIN_DIR = os.path.dirname(__file__)
LOG_TAG = "STDM"


def user_language() -> str:
    locale = str(QgsSettings().value("locale/userLocale", "en") or "en")[:2].lower()
    return locale if locale in LANGUAGES else "en"


class StdmPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.menu: QMenu | None = None
        self.toolbar = None
        self.actions: list[QAction] = []

    # --- QGIS hooks ----------------------------------------------------------
    def initGui(self) -> None:
        icon = QIcon(os.path.join(PLUGIN_DIR, "resources", "icon.svg"))
        self.menu = QMenu(tr("STDM"), self.iface.mainWindow().menuBar())
        self.menu.setObjectName("stdmMenu")
        self.toolbar = self.iface.addToolBar(tr("STDM"))
        self.toolbar.setObjectName("stdmToolbar")
        for text, slot, tip in (
            (tr("New settlement store…"), self.new_store,
             tr("Create a SpatiaLite settlement store and show it in this project")),
            (tr("Open settlement store…"), self.open_store,
             tr("Show an existing settlement store in this project")),
        ):
            action = QAction(icon, text, self.iface.mainWindow())
            action.setStatusTip(tip)
            action.triggered.connect(slot)
            self.menu.addAction(action)
            self.toolbar.addAction(action)
            self.actions.append(action)
        bar = self.iface.mainWindow().menuBar()
        help_menu = self.iface.firstRightStandardMenu()
        if isinstance(help_menu, QMenu):  # before Help, as QGIS's own menus do
            bar.insertMenu(help_menu.menuAction(), self.menu)
        else:
            bar.addMenu(self.menu)

    def unload(self) -> None:
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
        from .gui.store_dialog import NewStoreDialog

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

    def _error(self, message: str) -> None:
        QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Warning)
        self.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Critical, 0)

    def _success(self, message: str) -> None:
        QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Info)
        self.iface.messageBar().pushMessage(tr("STDM"), message, Qgis.Success, 8)
