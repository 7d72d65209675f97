"""Runs INSIDE the QGIS desktop (``qgis --code``) for the end-to-end test.

It looks at what a user would see once QGIS is up: is the STDM plugin active,
are its menu and toolbar there, did anything land in the Python error or STDM
message logs. It writes that as JSON for the test, drops the STDM menu down so
the screenshot shows it, and quits QGIS a few seconds later so the test can
take the screenshot in between.

QGIS runs this file with ``exec`` in its ``__main__`` namespace, so it cannot
import its neighbours; the test passes settings through environment variables:
STDM_E2E_RESULT (JSON written here), STDM_E2E_MESSAGES (message log copied by
qgis_message_hook.py) and STDM_E2E_QUIT_DELAY_MS.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

import qgis.utils
from qgis.core import Qgis
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QAction, QMenu, QToolBar

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

_started = time.monotonic()
_visible_since: list[float] = []


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


def _collect() -> dict[str, object]:
    """Gather everything the test asserts on."""
    _, menu = _find_menu()
    toolbar = _find_toolbar()
    messages = _logged_messages()
    return {
        "qgis_version": Qgis.QGIS_VERSION,
        "loaded": PLUGIN in qgis.utils.active_plugins,
        "active_plugins": sorted(qgis.utils.active_plugins),
        "window_visible": qgis.utils.iface.mainWindow().isVisible(),
        "menu_found": menu is not None,
        "menu_actions": _texts(menu.actions()) if menu is not None else [],
        "toolbar_found": toolbar is not None,
        "toolbar_actions": _texts(toolbar.actions()) if toolbar is not None else [],
        "errors": [m for m in messages if _is_error(m)],
        "messages": messages,
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


def _quit() -> None:
    """Close the menu, then leave through File > Exit like a user (runs plugin unload)."""
    _, menu = _find_menu()
    if menu is not None:
        menu.hide()
    qgis.utils.iface.actionExit().trigger()


def _report() -> None:
    """Report, show the menu, and schedule the exit; errors here are reported too."""
    try:
        result = _collect()
        _show_menu()
    except Exception:  # the test must hear about any failure here, not time out
        result = {"loaded": False, "script_error": traceback.format_exc()}
    _write_result(result)
    QTimer.singleShot(int(os.environ.get("STDM_E2E_QUIT_DELAY_MS", "4000")), _quit)


def _fill_screen() -> None:
    """Xvfb has no window manager to maximise QGIS; size it to the screen by hand."""
    window = qgis.utils.iface.mainWindow()
    window.setGeometry(window.screen().availableGeometry())


def _poll() -> None:
    """Wait for the main window to show and settle, then report once."""
    now = time.monotonic()
    if qgis.utils.iface.mainWindow().isVisible() and not _visible_since:
        _visible_since.append(now)
        _fill_screen()
    settled = bool(_visible_since) and now - _visible_since[0] >= SETTLE_S
    if settled or now - _started > GIVE_UP_S:
        _report()
    else:
        QTimer.singleShot(POLL_MS, _poll)


QTimer.singleShot(POLL_MS, _poll)
