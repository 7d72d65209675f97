"""The plugin's store safety actions: consistency check, backup and restore.

May import: gui/certificates and the capabilities below it, qgis and core.
"""
