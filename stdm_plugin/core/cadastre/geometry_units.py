"""Tolerances in metres, applied to geometries in the store's own units.

A land officer thinks in metres and square metres; the store keeps its
geometries in any 2D EPSG CRS (a UTM zone in metres, a national grid in
feet, or plain longitude/latitude). The checks and repairs take their
tolerances in metres and turn them into map units here. The turn is exact
for a projected CRS and, for a geographic one, good enough for a
tolerance (one degree of longitude is taken at the data's latitude); areas
that are reported or compared with a tolerance are always measured on the
ellipsoid (crs.area_calculator), never converted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

#: metres in one degree of latitude (mean), and of longitude at the equator
METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON = 111_320.0


@dataclass(frozen=True)
class MapUnits:
    """Metres per map unit along x and y, where the data is."""

    metres_x: float
    metres_y: float

    def length(self, metres: float) -> float:
        """A length in metres as map units (the shorter unit, so never too generous)."""
        return metres / max(self.metres_x, self.metres_y)

    def area_m2(self, planar_area: float) -> float:
        """A planar area in map units squared, roughly in square metres (for prefilters)."""
        return planar_area * self.metres_x * self.metres_y


@lru_cache(maxsize=32)
def _projected_unit(srid: int) -> float | None:
    """Metres per unit of a projected CRS, or None for a geographic one."""
    from pyproj import CRS

    crs = CRS.from_epsg(srid)
    if crs.is_geographic:
        return None
    return float(crs.axis_info[0].unit_conversion_factor or 1.0)


def map_units(srid: int, latitude: float = 0.0) -> MapUnits:
    """The units of ``srid``; ``latitude`` (degrees) matters for a geographic CRS only."""
    factor = _projected_unit(srid)
    if factor is not None:
        return MapUnits(factor, factor)
    cos_lat = max(math.cos(math.radians(min(abs(latitude), 89.0))), 0.01)
    return MapUnits(METRES_PER_DEGREE_LON * cos_lat, METRES_PER_DEGREE_LAT)


def map_units_for_bounds(srid: int, bounds: tuple[float, float, float, float]) -> MapUnits:
    """The units of ``srid`` around the middle of ``bounds`` (minx, miny, maxx, maxy)."""
    return map_units(srid, (bounds[1] + bounds[3]) / 2.0)
