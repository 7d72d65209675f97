"""The geometry check and cadastre exchange inside QGIS.

Owns the geometry check task and its result layers, repairs with preview,
and the Processing algorithms stdm:checkgeometry, stdm:importstructures
and stdm:reconcilecadastre.
May import: qgis/exchange and the capabilities below it, and core.
"""
