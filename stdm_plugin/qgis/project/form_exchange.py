"""Forms going out to phones (XLSForm) from the store shown in the project."""
from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProject

from ...core.forms.forms import load_form
from ...core.forms.xlsform import code_lists_from_store, export_xlsform
from ..forms.rules import shipped_form_path
from ..store.sources import open_store, source_of_layer
from .project import shown_store


def export_form_for_odk(project: QgsProject, path: str) -> tuple[Path, str | None]:
    """Write the shipped form as an XLSForm; returns the file and the store whose code
    lists (with any values users added) went into it, or None for the shipped lists."""
    form = load_form(shipped_form_path())
    shown = shown_store(project)
    if shown is None:
        return export_xlsform(form, path), None
    group, layers = shown
    with open_store(source_of_layer(layers["parcels"])) as store:
        written = export_xlsform(form, path, code_lists=code_lists_from_store(store))
    return written, group.customProperty("stdm/store")
