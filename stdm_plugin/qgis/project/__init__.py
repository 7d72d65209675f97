"""A store shown as a QGIS project: layers, relations, attribute forms, styles.

Owns building and finding the store's layers and groups in a project,
their relations, widgets and default symbology, the "Enumerate household"
session on the store shown, and the XLSForm export from it.
May import: qgis/forms, qgis/store, qgis/i18n, and core.
"""
