"""The "New settlement store" dialog: a file, a CRS, and optionally the first settlement."""
from __future__ import annotations

from qgis.core import QgsCoordinateReferenceSystem
from qgis.gui import QgsFileWidget, QgsProjectionSelectionWidget
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from ...qgis.i18n import tr

STORE_FILTER = "SpatiaLite settlement store (*.sqlite *.db)"


def add_crs_and_settlement_rows(dialog, form: QFormLayout) -> None:
    """The rows every "new store" dialog has; read back with the helpers below."""
    dialog.crs_widget = QgsProjectionSelectionWidget()
    dialog.crs_widget.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    form.addRow(tr("Coordinate reference system"), dialog.crs_widget)
    dialog.settlement_code = QLineEdit()
    dialog.settlement_code.setPlaceholderText(tr("e.g. KOU (prefixes parcel codes)"))
    dialog.settlement_code.setMaxLength(10)
    form.addRow(tr("Settlement code"), dialog.settlement_code)
    dialog.settlement_name = QLineEdit()
    dialog.settlement_name.setPlaceholderText(tr("e.g. Koumassi Campement"))
    form.addRow(tr("Settlement name"), dialog.settlement_name)


class NewStoreFields:
    """CRS and first settlement, as read from the rows above."""

    def crs_authid(self) -> str:
        crs = self.crs_widget.crs()
        return crs.authid() if crs.isValid() else ""

    def settlement(self) -> tuple[str, str] | None:
        code = self.settlement_code.text().strip().upper()
        name = self.settlement_name.text().strip()
        return (code, name or code) if code else None


class NewStoreDialog(NewStoreFields, QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("New settlement store"))
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Creates a SpatiaLite file that holds parcels, structures, parties "
                          "and tenure, and adds its layers to the current project."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.file_widget = QgsFileWidget()
        self.file_widget.setStorageMode(QgsFileWidget.SaveFile)
        self.file_widget.setFilter(tr(STORE_FILTER))
        self.file_widget.setDialogTitle(tr("Save the new store as"))
        form.addRow(tr("Store file"), self.file_widget)
        add_crs_and_settlement_rows(self, form)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setText(tr("Create"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def store_path(self) -> str:
        path = self.file_widget.filePath().strip()
        if path and not path.lower().endswith((".sqlite", ".db")):
            path += ".sqlite"
        return path

