"""Where the plugin keeps its backup keys inside QGIS: the user's QGIS profile folder.

``<profile>/stdm/keyring`` (QgsApplication.qgisSettingsDirPath()), beside the
user's other QGIS settings and never inside a store or its backups;
``STDM_KEYRING``, when set, names another folder (for tests, or for an office
that keeps its keys on an encrypted drive).
"""
from __future__ import annotations

import os

from qgis.core import QgsApplication

from ...core.safety.backup_keys import KEYRING_VARIABLE, BackupKeyring


def plugin_keyring() -> BackupKeyring:
    configured = os.environ.get(KEYRING_VARIABLE)
    if configured:
        return BackupKeyring(configured)
    return BackupKeyring(os.path.join(QgsApplication.qgisSettingsDirPath(), "stdm", "keyring"))
