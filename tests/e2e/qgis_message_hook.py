"""Run by QGIS through $PYQGIS_STARTUP while its Python starts, before plugins load.

It appends every message-log entry to the JSON-lines file named by
$STDM_E2E_MESSAGES as soon as it is logged. Errors raised while plugins load
come before any ``--code`` script runs, and QGIS may then sit behind a modal
error dialog; this file lets the test see them at once and stop early.

QGIS executes it in its ``__main__`` namespace, hence the prefixed names, and
QGIS 3.22 executes it twice (once as a path relative to its Python folder, once
as given), hence the guard.
"""

from __future__ import annotations

import json
import os

from qgis.core import Qgis, QgsApplication

_STDM_HOOK_LEVELS = {
    Qgis.Info: "INFO",
    Qgis.Warning: "WARNING",
    Qgis.Critical: "CRITICAL",
    Qgis.Success: "SUCCESS",
}
_STDM_HOOK_FILE = os.environ.get("STDM_E2E_MESSAGES")
_STDM_HOOK_GUARD = "STDM_E2E_HOOK_INSTALLED"


def _stdm_hook_append(message: str, tag: str, level: Qgis.MessageLevel) -> None:
    """One line per message, flushed at once: QGIS may be killed at any moment."""
    entry = {"tag": tag, "level": _STDM_HOOK_LEVELS.get(level, "NONE"), "text": message}
    with open(_STDM_HOOK_FILE, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


if _STDM_HOOK_FILE and not os.environ.get(_STDM_HOOK_GUARD):
    os.environ[_STDM_HOOK_GUARD] = "1"
    # First line of the file: proves to the test that the hook ran at all.
    _stdm_hook_append("message hook installed", "stdm-e2e-hook", Qgis.Info)
    QgsApplication.messageLog().messageReceived.connect(_stdm_hook_append)
