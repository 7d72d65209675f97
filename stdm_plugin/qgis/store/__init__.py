"""A store as QGIS reaches it, and long work in the background.

Owns where QGIS reads a store's layers from (a SpatiaLite file or a
PostGIS schema, credentials from QGIS's authentication manager), the
QgsTask helpers and the publish task, and what every STDM Processing
algorithm shares.
May import: qgis/i18n, and core.
"""
