"""Translation for the QGIS side: every user-visible string goes through ``tr``."""
from __future__ import annotations

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication

from ..core.store.lookups import LANGUAGES

CONTEXT = "StdmPlugin"


def tr(text: str) -> str:
    return QCoreApplication.translate(CONTEXT, text)


def user_language() -> str:
    """The language of the QGIS the user runs, if the code lists have it; else English."""
    locale = str(QgsSettings().value("locale/userLocale", "en") or "en")[:2].lower()
    return locale if locale in LANGUAGES else "en"
