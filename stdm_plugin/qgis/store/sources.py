"""Where QGIS reads a store's layers from: a SpatiaLite file or a PostGIS schema.

A PostgreSQL password is never written into a layer source or a project:
the connection names a service from pg_service.conf or an authentication
configuration of QGIS's authentication manager, which holds the password
encrypted and hands it to the core's connection when asked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsDataSourceUri

from ..i18n import tr


class CredentialsError(RuntimeError):
    """The connection's credentials could not be obtained."""


class NotAStoreLayerError(RuntimeError):
    """A layer that is not read from a settlement store (SpatiaLite or PostGIS)."""


@dataclass
class SpatiaLiteSource:
    path: str
    provider = "spatialite"

    @property
    def label(self) -> str:
        return os.path.basename(self.path)

    def layer_uri(self, table: str, geometry: str | None, where: str) -> str:
        uri = QgsDataSourceUri()
        uri.setDatabase(os.path.abspath(self.path))
        uri.setDataSource("", table, geometry or "", where, "id")
        return uri.uri()


@dataclass
class PostgresConnection:
    """A QGIS-style PostgreSQL connection plus the schema that holds the store."""

    schema: str
    host: str = ""
    port: str = "5432"
    dbname: str = ""
    user: str = ""
    service: str = ""
    authcfg: str = ""
    sslmode: str = ""
    provider = "postgres"

    @property
    def label(self) -> str:
        return f"{self.service or self.dbname}.{self.schema}"

    def psycopg2_params(self) -> dict[str, Any]:
        """What the core's PostGIS backend connects with; the password only in memory."""
        params: dict[str, Any] = {}
        for key in ("service", "host", "port", "dbname", "user", "sslmode"):
            if getattr(self, key):
                params[key] = str(getattr(self, key))
        if self.authcfg:
            config = QgsAuthMethodConfig()
            manager = QgsApplication.authManager()
            if not manager.loadAuthenticationConfig(self.authcfg, config, True):
                raise CredentialsError(tr("The authentication configuration {0} could not be "
                                          "read").format(self.authcfg))
            if config.config("username"):
                params["user"] = config.config("username")
            params["password"] = config.config("password")
        return params

    def layer_uri(self, table: str, geometry: str | None, where: str) -> str:
        uri = QgsDataSourceUri()
        if self.service:
            uri.setConnection(self.service, self.dbname, self.user, "",
                              QgsDataSourceUri.SslPrefer, self.authcfg)
        else:
            uri.setConnection(self.host, str(self.port), self.dbname, self.user, "",
                              QgsDataSourceUri.SslPrefer, self.authcfg)
        uri.setDataSource(self.schema, table, geometry or "", where, "id")
        return uri.uri(False)


def source_for(store) -> SpatiaLiteSource | PostgresConnection:
    """The layer source of an open store (for PostGIS, from the core's connection)."""
    if store.db.dialect == "spatialite":
        return SpatiaLiteSource(store.path)
    params = store.db.connection_params
    return PostgresConnection(schema=store.db.schema, host=str(params.get("host", "")),
                              port=str(params.get("port", "5432")),
                              dbname=str(params.get("dbname", "")),
                              user=str(params.get("user", "")),
                              service=str(params.get("service", "")))


def source_of_layer(layer) -> SpatiaLiteSource | PostgresConnection:
    """Where a store layer of the project reads from. Taken from the layer's own source,
    which QGIS keeps absolute and up to date when a project is moved or reopened."""
    uri = QgsDataSourceUri(layer.source())
    if layer.providerType() == "spatialite":
        return SpatiaLiteSource(uri.database())
    if layer.providerType() == "postgres":
        return PostgresConnection(schema=uri.schema(), host=uri.host(), port=uri.port() or "5432",
                                  dbname=uri.database(), user=uri.username(),
                                  service=uri.service(), authcfg=uri.authConfigId())
    raise NotAStoreLayerError(tr("The layer {0} is not read from a settlement store").format(
        layer.name()))


def open_store(source: SpatiaLiteSource | PostgresConnection):
    """A core connection to the store a source shows (the caller closes it)."""
    from ...core.settlement_store import SettlementStore

    if isinstance(source, SpatiaLiteSource):
        return SettlementStore.open(source.path)
    return SettlementStore.open_postgis(source.psycopg2_params(), source.schema)
