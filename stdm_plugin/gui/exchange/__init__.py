"""The "Export…" dialog: what goes out of the store, in which format and CRS.

May import: gui/safety and the capabilities below it, qgis and core.
"""
