"""PostgreSQL/PostGIS store dialog: a QGIS-style connection plus the store's schema.

Offers QGIS's saved PostgreSQL connections, a service from pg_service.conf,
or host/port/database/user; the password comes from an authentication
configuration of QGIS's authentication manager and is never stored here.
"""
from __future__ import annotations

from qgis.core import QgsDataSourceUri, QgsProviderRegistry
from qgis.gui import QgsAuthConfigSelect
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from ...qgis.i18n import tr
from ...qgis.store.sources import PostgresConnection
from .store_dialog import NewStoreFields, add_crs_and_settlement_rows

CUSTOM = ""


def saved_connections() -> dict[str, QgsDataSourceUri]:
    """QGIS's saved PostgreSQL connections, by name."""
    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    if metadata is None:
        return {}
    try:
        connections = metadata.connections(False)
    except Exception:  # a broken saved connection must not stop the dialog
        return {}
    return {name: QgsDataSourceUri(connection.uri()) for name, connection in connections.items()}


class PostgresStoreDialog(NewStoreFields, QDialog):
    """``mode`` is "new", "open" or "publish"; only "new" asks for a CRS and settlement."""

    def __init__(self, mode: str, parent=None) -> None:
        super().__init__(parent)
        self.mode = mode
        titles = {"new": tr("New settlement store on PostGIS"),
                  "open": tr("Open settlement store on PostGIS"),
                  "publish": tr("Publish settlement store to PostGIS")}
        self.setWindowTitle(titles[mode])
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        if mode == "publish":
            intro = QLabel(tr("Copies every record, document and the history of the store "
                              "into a new schema, and checks the counts of every table."))
            intro.setWordWrap(True)
            layout.addWidget(intro)
        form = QFormLayout()
        self.saved = QComboBox()
        self.saved.addItem(tr("(enter the connection below)"), CUSTOM)
        self._uris = saved_connections()
        for name in sorted(self._uris):
            self.saved.addItem(name, name)
        self.saved.currentIndexChanged.connect(self._use_saved)
        form.addRow(tr("Saved connection"), self.saved)
        self.service = QLineEdit()
        self.service.setPlaceholderText(tr("a service in pg_service.conf (optional)"))
        form.addRow(tr("Service"), self.service)
        self.host = QLineEdit()
        form.addRow(tr("Host"), self.host)
        self.port = QLineEdit("5432")
        form.addRow(tr("Port"), self.port)
        self.dbname = QLineEdit()
        form.addRow(tr("Database"), self.dbname)
        self.user = QLineEdit()
        form.addRow(tr("User"), self.user)
        self.auth = QgsAuthConfigSelect(self, "postgres")
        form.addRow(tr("Authentication"), self.auth)
        self.schema = QLineEdit()
        self.schema.setPlaceholderText(tr("e.g. abobo (lower case letters, digits, _)"))
        form.addRow(tr("Schema of the store"), self.schema)
        if mode == "new":
            add_crs_and_settlement_rows(self, form)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _use_saved(self) -> None:
        uri = self._uris.get(self.saved.currentData())
        if uri is None:
            return
        self.service.setText(uri.service())
        self.host.setText(uri.host())
        self.port.setText(uri.port() or "5432")
        self.dbname.setText(uri.database())
        self.user.setText(uri.username())
        self.auth.setConfigId(uri.authConfigId())

    def connection(self) -> PostgresConnection:
        return PostgresConnection(
            schema=self.schema.text().strip(), host=self.host.text().strip(),
            port=self.port.text().strip() or "5432", dbname=self.dbname.text().strip(),
            user=self.user.text().strip(), service=self.service.text().strip(),
            authcfg=self.auth.configId())
