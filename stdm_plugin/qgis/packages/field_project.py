"""The QGIS project of a field package, for QGIS on a laptop and for QField, offline.

The project beside the package's store (``field_package.qgz``) is the
store's ordinary project (project.py: the same layers, relations, forms
and styles as in the office) opening the package's own SpatiaLite file by
a path relative to the project, so the folder can be copied to a laptop or
a phone and opened there with no network: no PostGIS, no authentication
configuration, no basemap to download.

It says whose package it is in project variables, which forms and
expressions can use: ``@stdm_package_id``, ``@stdm_team``, ``@stdm_device``
(when the package names a device) and ``@stdm_enumerator`` (when it was
made for one enumerator). A record added or edited in the field names that
enumerator in ``created_by``/``updated_by``, else the account of whoever is
logged in on the device.
"""
from __future__ import annotations

import os
from functools import partial

from qgis.core import QgsExpressionContextUtils, QgsProject, QgsVectorLayer

from ...core.packages.field_package import FieldPackage
from ...core.settlement_store import SettlementStore
from ..i18n import tr
from ..project.attribute_forms import set_actor_defaults
from ..project.project import write_project

PROJECT_FILE = "field_package.qgz"
#: who a record added or edited in the field is by
ENUMERATOR_EXPRESSION = "coalesce(@stdm_enumerator, @user_account_name)"


def package_variables(package: FieldPackage) -> dict[str, str]:
    """The project variables of a package's project, by name."""
    variables = {"stdm_package_id": package.id, "stdm_team": package.team}
    if package.device:
        variables["stdm_device"] = package.device
    if len(package.enumerators) == 1:
        variables["stdm_enumerator"] = package.enumerators[0]
    return variables


def project_path(package: FieldPackage) -> str:
    return os.path.join(package.folder, PROJECT_FILE)


def write_package_project(package: FieldPackage, lang: str = "en") -> str:
    """Write ``<package folder>/field_package.qgz``; returns its path."""
    path = project_path(package)
    with SettlementStore.open(package.store_file, read_only=True) as store:
        write_project(store, path, lang,
                      title=tr("Field package: team {0}").format(package.team),
                      prepare=partial(_for_the_field, package))
    return path


def _for_the_field(package: FieldPackage, project: QgsProject,
                   layers: dict[str, QgsVectorLayer]) -> None:
    for name, value in package_variables(package).items():
        QgsExpressionContextUtils.setProjectVariable(project, name, value)
    for layer in layers.values():
        set_actor_defaults(layer, ENUMERATOR_EXPRESSION)
