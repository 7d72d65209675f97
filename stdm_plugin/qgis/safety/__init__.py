"""The consistency check, the backup and the restore as QgsTasks; where the backup keys live.

May import: qgis/certificates and the capabilities below it, and core.
"""
