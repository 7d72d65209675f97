"""Exports for the cadastre and partners as Processing algorithms.

Owns stdm:exportstore and stdm:exportchanges.
May import: qgis/safety and the capabilities below it, and core.
"""
