"""Cadastre work in QGIS: geometry problems dock, cadastre import, split and merge.

Owns the check geometry actions and dock, the "Import cadastre or
structures" dialog, the parcel split and merge tools, and the export entry.
May import: gui/exchange and the capabilities below it, qgis and core.
"""
