"""Certificates drawn by QGIS: the print layout, its atlas, and the batch task.

Owns rendering a certificate sheet with a layout template (map, QR code,
holders) and issuing a batch in the background with progress and Cancel.
May import: qgis/adjudication and the capabilities below it, and core.
"""
