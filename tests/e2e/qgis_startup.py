"""Runs INSIDE the QGIS desktop (``qgis --code``) for the end-to-end tests.

It looks at what a user would see once QGIS is up, in one of two scenarios
chosen by $STDM_E2E_SCENARIO:

- ``plugin_menu`` (the default): is the STDM plugin active, are its menu and
  toolbar there; the STDM menu is dropped down for the screenshot.
- ``demo_project``: QGIS was started on the demo project (``--project``); are its
  layers and relations valid, and does the form of one parcel list its tenure
  on the Tenure tab. The map is zoomed to the parcels and the form is left
  open beside it for the screenshot.

Either way it also reports what landed in the Python error or STDM message
logs, writes all that as JSON for the test, and quits QGIS a few seconds later
so the test can take the screenshot in between.

QGIS runs this file with ``exec`` in its ``__main__`` namespace, so it cannot
import its neighbours; the test passes settings through environment variables:
STDM_E2E_RESULT (JSON written here), STDM_E2E_MESSAGES (message log copied by
qgis_message_hook.py), STDM_E2E_QUIT_DELAY_MS, STDM_E2E_SCENARIO and, for the
demo project, STDM_E2E_PROJECT (the .qgz QGIS should have opened).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import qgis.utils
from qgis.core import Qgis, QgsFeatureRequest, QgsProject, QgsVectorLayer
from qgis.gui import QgsRelationEditorWidget
from qgis.PyQt.QtCore import QCoreApplication, QRect, QTimer
from qgis.PyQt.QtWidgets import QAction, QMenu, QTableView, QTabWidget, QToolBar, QWidget

PLUGIN = "stdm_plugin"
MENU_TITLE = "STDM"
TOOLBAR_TITLE = "STDM"
ERROR_TAG = "Python error"
PLUGIN_TAG = "STDM"
REPORTED_TAGS = (ERROR_TAG, PLUGIN_TAG)
BAD_LEVELS = ("WARNING", "CRITICAL")
POLL_MS = 250
# Let the event loop settle after the window first shows, so menus are final.
SETTLE_S = 2.0
GIVE_UP_S = 90.0
SCENARIO = os.environ.get("STDM_E2E_SCENARIO", "plugin_menu")

# The demo project scenario: what it opens and how long it lets the form load.
PARCELS_KEY = "parcels"  # custom property stdm/layer_key of the Parcels layer
PARCEL_CODE = "KOU-P00001"
TENURE_TAB = "Tenure"
TENURE_RELATION = "stdm_parcel_tenure"
FORM_LOAD_S = 5.0
CANVAS_DRAW_S = 5.0
# The form goes on the right part of the screen, leaving the map and layer tree visible.
FORM_SCREEN_SHARE = 0.45
FORM_TOP_PX = 110
FORM_BOTTOM_MARGIN_PX = 60

_started = time.monotonic()
_ready_since: list[float] = []
# Windows the scenario opened; closed before quitting so QGIS exits as a user's would.
_opened: list[QWidget] = []


def _plain(text: str) -> str:
    """Drop the '&' mnemonic markers Qt puts in menu titles."""
    return text.replace("&", "")


def _logged_messages() -> list[dict[str, str]]:
    """Messages with our tags, as copied to disk by the hook since before plugins loaded."""
    path = Path(os.environ.get("STDM_E2E_MESSAGES", ""))
    if not path.is_file():
        return []
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [entry for entry in entries if entry["tag"] in REPORTED_TAGS]


def _is_error(message: dict[str, str]) -> bool:
    """Any Python error counts; STDM's own log only at warning level or above."""
    if message["tag"] == ERROR_TAG:
        return True
    return message["tag"] == PLUGIN_TAG and message["level"] in BAD_LEVELS


def _find_menu() -> tuple[QAction | None, QMenu | None]:
    """Find the top-level STDM menu in the main window's menu bar."""
    menu_bar = qgis.utils.iface.mainWindow().menuBar()
    for action in menu_bar.actions():
        if _plain(action.text()) == MENU_TITLE and action.menu() is not None:
            return action, action.menu()
    return None, None


def _find_toolbar() -> QToolBar | None:
    """Find the STDM toolbar by its title (what View > Toolbars shows the user)."""
    for toolbar in qgis.utils.iface.mainWindow().findChildren(QToolBar):
        if _plain(toolbar.windowTitle()) == TOOLBAR_TITLE:
            return toolbar
    return None


def _texts(actions: list[QAction]) -> list[str]:
    """Visible action labels, without separators."""
    return [_plain(a.text()) for a in actions if not a.isSeparator()]


def _common() -> dict[str, object]:
    """What every scenario reports: QGIS, the plugin, and the logged messages."""
    messages = _logged_messages()
    return {
        "qgis_version": Qgis.QGIS_VERSION,
        "loaded": PLUGIN in qgis.utils.active_plugins,
        "active_plugins": sorted(qgis.utils.active_plugins),
        "window_visible": qgis.utils.iface.mainWindow().isVisible(),
        "errors": [m for m in messages if _is_error(m)],
        "messages": messages,
    }


def _stdm_algorithms() -> list[str]:
    """The ids of the plugin's Processing algorithms, as the toolbox lists them."""
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("stdm")
    return sorted(a.id() for a in provider.algorithms()) if provider is not None else []


def _collect() -> dict[str, object]:
    """Gather everything the plugin menu test asserts on."""
    _, menu = _find_menu()
    toolbar = _find_toolbar()
    return {
        **_common(),
        "menu_found": menu is not None,
        "menu_actions": _texts(menu.actions()) if menu is not None else [],
        "toolbar_found": toolbar is not None,
        "toolbar_actions": _texts(toolbar.actions()) if toolbar is not None else [],
        "processing_algorithms": _stdm_algorithms(),
        "seconds_since_script_start": round(time.monotonic() - _started, 1),
    }


def _write_result(result: dict[str, object]) -> None:
    """Write atomically: the test polls for the file and must never read half of it."""
    target = Path(os.environ["STDM_E2E_RESULT"])
    partial = target.with_name(target.name + ".part")
    partial.write_text(json.dumps(result, indent=2), encoding="utf-8")
    partial.replace(target)


def _show_menu() -> None:
    """Drop the STDM menu down so the screenshot shows its actions."""
    action, menu = _find_menu()
    if menu is None:
        return
    menu_bar = qgis.utils.iface.mainWindow().menuBar()
    menu.popup(menu_bar.mapToGlobal(menu_bar.actionGeometry(action).bottomLeft()))


def _plugin_menu() -> dict[str, object]:
    """The plugin_menu scenario: report, then drop the STDM menu down for the screenshot."""
    result = _collect()
    _show_menu()
    return result


def _process_events_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Let QGIS work (draw, load related features) until condition holds or time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _project_opened() -> bool:
    """Has QGIS read the project the test started it with ($STDM_E2E_PROJECT)?"""
    opened = QgsProject.instance().fileName()
    expected = os.environ.get("STDM_E2E_PROJECT", "")
    return bool(opened) and Path(opened).resolve() == Path(expected).resolve()


def _layer_by_key(key: str) -> QgsVectorLayer | None:
    """A store layer by the key the plugin stores on it, whatever its translated name."""
    for layer in QgsProject.instance().mapLayers().values():
        if layer.customProperty("stdm/layer_key") == key:
            return layer
    return None


def _project_report() -> dict[str, object]:
    """The project's layers and relations as the test checks them."""
    project = QgsProject.instance()
    layers = sorted(project.mapLayers().values(), key=lambda layer: layer.name())
    relations = project.relationManager().relations()
    return {
        "project_file": project.fileName(),
        "layers": [
            {
                "name": layer.name(),
                "key": layer.customProperty("stdm/layer_key"),
                "valid": layer.isValid(),
                "features": layer.featureCount() if isinstance(layer, QgsVectorLayer) else None,
            }
            for layer in layers
        ],
        "relations": {rid: relation.isValid() for rid, relation in sorted(relations.items())},
    }


def _zoom_to(layer: QgsVectorLayer) -> dict[str, object]:
    """Zoom the map canvas to the layer, as "Zoom to Layer" does, and wait for the drawing."""
    canvas = qgis.utils.iface.mapCanvas()
    drawn: list[bool] = []

    def _on_drawn() -> None:
        drawn.append(True)

    canvas.mapCanvasRefreshed.connect(_on_drawn)
    try:
        canvas.setExtent(canvas.mapSettings().layerExtentToOutputExtent(layer, layer.extent()))
        canvas.refresh()
        _process_events_until(lambda: bool(drawn), CANVAS_DRAW_S)
    finally:
        canvas.mapCanvasRefreshed.disconnect(_on_drawn)
    shown = canvas.extent()
    wanted = canvas.mapSettings().layerExtentToOutputExtent(layer, layer.extent())
    return {"canvas_drawn": bool(drawn), "canvas_shows_layer": shown.contains(wanted)}


def _place_beside_map(dialog: QWidget) -> None:
    """Put the form on the right of the screen so the screenshot shows the map too."""
    screen = qgis.utils.iface.mainWindow().screen().availableGeometry()
    width = int(screen.width() * FORM_SCREEN_SHARE)
    height = screen.height() - FORM_TOP_PX - FORM_BOTTOM_MARGIN_PX
    dialog.setGeometry(QRect(screen.right() - width, screen.top() + FORM_TOP_PX, width, height))


def _table_rows(view: QTableView) -> list[list[str]]:
    """What the table shows, row by row: the display text of its visible columns."""
    model = view.model()
    columns = [c for c in range(model.columnCount()) if not view.isColumnHidden(c)]
    rows = []
    for row in range(model.rowCount()):
        texts = [model.index(row, column).data() for column in columns]
        rows.append(["" if text is None else str(text) for text in texts])
    return rows


def _tenure_table(
    tab: QWidget,
) -> tuple[QgsRelationEditorWidget | None, QTableView | None]:
    """The tab's relation editor for the parcel's tenure, and its attribute table."""
    editors = tab.findChildren(QgsRelationEditorWidget)
    editor = next((e for e in editors if e.relation().id() == TENURE_RELATION), None)
    view = editor.findChild(QTableView, "mTableView") if editor is not None else None
    return editor, view


def _tenure_row_count(tab: QWidget) -> int:
    """How many tenure records the tab's relation editor has loaded so far."""
    _, view = _tenure_table(tab)
    return view.model().rowCount() if view is not None and view.model() is not None else 0


def _open_parcel_form(parcels: QgsVectorLayer) -> dict[str, object]:
    """Open the parcel's form as Identify does, go to its Tenure tab, wait for the rows."""
    request = QgsFeatureRequest().setFilterExpression(f"\"code\" = '{PARCEL_CODE}'")
    feature = next(parcels.getFeatures(request), None)
    if feature is None:
        return {"parcel_found": False}
    parcels.selectByIds([feature.id()])  # highlighted on the map, as after Identify
    dialog = qgis.utils.iface.getFeatureForm(parcels, feature)
    _opened.append(dialog)
    dialog.show()
    _place_beside_map(dialog)
    tabs = dialog.findChild(QTabWidget)
    titles = [_plain(tabs.tabText(i)) for i in range(tabs.count())] if tabs is not None else []
    report: dict[str, object] = {
        "parcel_found": True,
        "form_visible": dialog.isVisible(),
        "form_geometry": dialog.geometry().getRect(),
        "tabs": titles,
    }
    if TENURE_TAB not in titles:
        return report
    tabs.setCurrentIndex(titles.index(TENURE_TAB))
    waited = time.monotonic()
    # QGIS builds a tab's relation editor and loads its features once the tab shows.
    _process_events_until(lambda: _tenure_row_count(tabs.currentWidget()) > 0, FORM_LOAD_S)
    editor, view = _tenure_table(tabs.currentWidget())
    return {
        **report,
        "current_tab": _plain(tabs.tabText(tabs.currentIndex())),
        "relation_editor_found": editor is not None,
        "tenure_tab_relations": [
            e.relation().id() for e in tabs.currentWidget().findChildren(QgsRelationEditorWidget)
        ],
        "tenure_table_visible": view is not None and view.isVisible(),
        "tenure_rows": _table_rows(view) if view is not None else [],
        "tenure_wait_s": round(time.monotonic() - waited, 2),
    }


def _demo_project() -> dict[str, object]:
    """The demo_project scenario: check the project, zoom to the parcels, open a form."""
    report = _project_report()
    parcels = _layer_by_key(PARCELS_KEY)
    report["parcels_layer"] = parcels.name() if parcels is not None else None
    if parcels is not None:
        qgis.utils.iface.setActiveLayer(parcels)
        report.update(_zoom_to(parcels))
        # Opening and viewing must not count as changing the project...
        report["project_modified_before_form"] = QgsProject.instance().isDirty()
        report.update(_open_parcel_form(parcels))
    # ...but QGIS 3.22 marks it modified once a form shows a relation editor.
    report["project_modified_after_form"] = QgsProject.instance().isDirty()
    report["seconds_since_script_start"] = round(time.monotonic() - _started, 1)
    # Last, so that messages logged while the form loaded count too.
    return {**_common(), **report}


SCENARIOS: dict[str, Callable[[], dict[str, object]]] = {
    "plugin_menu": _plugin_menu,
    "demo_project": _demo_project,
}


def _ready() -> bool:
    """Is QGIS in the state the scenario starts from (the demo: its project read)?"""
    return SCENARIO != "demo_project" or _project_opened()


def _quit() -> None:
    """Close the menu and any window we opened, then leave through File > Exit like a
    user (runs plugin unload)."""
    _, menu = _find_menu()
    if menu is not None:
        menu.hide()
    for window in _opened:
        window.close()
    # Answer "Discard" to QGIS's "Save changes?" before it asks: QGIS marks the project
    # modified once a form shows a relation editor, though nothing was edited.
    QgsProject.instance().setDirty(False)
    qgis.utils.iface.actionExit().trigger()


def _report() -> None:
    """Run the scenario, report, and schedule the exit; errors here are reported too."""
    try:
        result = SCENARIOS[SCENARIO]()
    except Exception:  # the test must hear about any failure here, not time out
        result = {"loaded": False, "script_error": traceback.format_exc()}
    _write_result(result)
    QTimer.singleShot(int(os.environ.get("STDM_E2E_QUIT_DELAY_MS", "4000")), _quit)


def _fill_screen() -> None:
    """Xvfb has no window manager to maximise QGIS; size it to the screen by hand."""
    window = qgis.utils.iface.mainWindow()
    window.setGeometry(window.screen().availableGeometry())


def _poll() -> None:
    """Wait for the main window to show and the scenario to be ready, let it settle,
    then report once."""
    now = time.monotonic()
    if qgis.utils.iface.mainWindow().isVisible() and _ready() and not _ready_since:
        _ready_since.append(now)
        _fill_screen()
    settled = bool(_ready_since) and now - _ready_since[0] >= SETTLE_S
    if settled or now - _started > GIVE_UP_S:
        _report()
    else:
        QTimer.singleShot(POLL_MS, _poll)


QTimer.singleShot(POLL_MS, _poll)
