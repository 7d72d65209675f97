"""QGIS glue without widgets: layers, relations, forms and styles for a store."""
