"""The "Import submissions" dialog and the report of what an import did.

May import: gui/forms, gui/store, qgis and core.
"""
