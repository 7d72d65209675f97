"""The consistency check, the backup and the restore as QgsTasks.

May import: qgis/certificates and the capabilities below it, and core.
"""
