"""Translation for the QGIS side: every user-visible string goes through ``tr``."""
from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication

CONTEXT = "StdmPlugin"


def tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)
