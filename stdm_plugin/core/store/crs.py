"""Coordinate reference systems: check what a user asks for, and measure in metres."""
from __future__ import annotations

from functools import lru_cache

from .errors import UnknownCrsError


def resolve_srid(crs: str | int) -> int:
    """Return the EPSG code for ``crs`` ("EPSG:32630", 32630, "32630"), or refuse it.

    The store keeps geometries in one EPSG CRS so that QGIS, SpatiaLite and
    PostGIS all agree on it; a CRS without an EPSG code is refused.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = str(crs).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        parsed = CRS.from_user_input(text)
    except CRSError as exc:
        raise UnknownCrsError(f"Unknown coordinate reference system {crs!r}: {exc}",
                             str(crs)) from exc
    epsg = parsed.to_epsg(min_confidence=100)
    if epsg is None:
        raise UnknownCrsError(
            f"The coordinate reference system {crs!r} has no EPSG code; pick an EPSG CRS "
            "(for example EPSG:4326 or the UTM zone of the settlement).", str(crs))
    if not (parsed.is_geographic or parsed.is_projected) or len(parsed.axis_info) != 2:
        raise UnknownCrsError(
            f"{crs!r} is not a 2D geographic or projected CRS; parcels are stored in 2D.",
            str(crs))
    return epsg


class AreaCalculator:
    """Area in square metres on the ellipsoid, whatever the storage CRS.

    A projected CRS distorts area (UTM by up to ~0.1%, Web Mercator by far
    more), so geometries are taken to the CRS's own geographic CRS and
    measured geodesically.
    """

    def __init__(self, srid: int) -> None:
        from pyproj import CRS, Geod, Transformer

        crs = CRS.from_epsg(srid)
        geographic = crs.geodetic_crs
        self._geod = Geod(ellps="WGS84") if geographic is None else geographic.get_geod()
        # Geographic storage is already x=lon, y=lat (SpatiaLite's axis order).
        self._to_lonlat = None
        if not crs.is_geographic:
            self._to_lonlat = Transformer.from_crs(crs, geographic, always_xy=True).transform

    def areas_m2(self, geometries) -> list[float]:
        """Areas of many geometries, reprojected in one vectorised call."""
        import numpy
        import shapely

        array = numpy.asarray(geometries, dtype=object)
        if self._to_lonlat is not None:
            to_lonlat = self._to_lonlat

            def project(xy):
                x, y = to_lonlat(xy[:, 0], xy[:, 1])
                return numpy.column_stack([x, y])

            array = shapely.transform(array, project)
        return [0.0 if g is None or g.is_empty else abs(self._geod.geometry_area_perimeter(g)[0])
                for g in array]

    def area_m2(self, geometry) -> float:
        from shapely.ops import transform

        if geometry is None or geometry.is_empty:
            return 0.0
        if self._to_lonlat is not None:
            geometry = transform(self._to_lonlat, geometry)
        area, _perimeter = self._geod.geometry_area_perimeter(geometry)
        return abs(area)


@lru_cache(maxsize=16)
def area_calculator(srid: int) -> AreaCalculator:
    return AreaCalculator(srid)
