"""Issuing certificates, the certificate register and verifying a scanned code.

Owns the issue dialog and its report, the register window with its
office key and history windows, the verify dialog, and their actions.
May import: gui/adjudication and the capabilities below it, qgis and core.
"""
