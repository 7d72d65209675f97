"""The plugin's store safety actions: consistency check, backup and restore, backup keys
and what to do with a backup that cannot be authenticated.

May import: gui/certificates and the capabilities below it, qgis and core.
"""
