"""TEMPORARY stand-in written for the e2e test; the real StdmPlugin replaces this file.

It only builds the menu and toolbar that tests/e2e expects to find.
"""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QAction, QMenu

MENU_TITLE = "STDM"


class StdmPlugin:
    """Adds the STDM menu and toolbar; removes them again on unload."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.menu: QMenu | None = None
        self.toolbar = None
        self.actions: list[QAction] = []

    def initGui(self) -> None:
        window = self.iface.mainWindow()
        self.menu = QMenu(MENU_TITLE, window)
        self.toolbar = self.iface.addToolBar(MENU_TITLE)
        self.toolbar.setObjectName("StdmToolbar")
        for text in ("New settlement store…", "Open settlement store…"):
            action = QAction(text, window)
            self.menu.addAction(action)
            self.toolbar.addAction(action)
            self.actions.append(action)
        window.menuBar().insertMenu(self.iface.firstRightStandardMenu().menuAction(), self.menu)

    def unload(self) -> None:
        for action in self.actions:
            action.deleteLater()
        self.actions = []
        if self.menu is not None:
            self.menu.deleteLater()
            self.menu = None
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
