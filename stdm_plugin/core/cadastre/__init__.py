"""The map as a cadastre sees it: geometry checks and fixes, lineage, spatial files.

Owns the geometry check (scan, tiles, findings) and its safe repairs,
parcel split and merge with lineage, reading Shapefiles, GeoPackages and
GeoJSON with every defect named, and importing or reconciling an existing
cadastre or building footprints.
May import: core/exchange and every capability below it.
"""
