"""What reading a spatial file gives: its features, and every problem found, by feature and field.

The reader (spatial_files.py) and the geometry checks (spatial_geometry.py)
fill these; the cadastre import and the dialogs read them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

DRIVERS = {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
POLYGONAL = ("Polygon", "MultiPolygon")
FALLBACK_ENCODING = "cp1252"
ERROR, WARNING = "error", "warning"

#: what each kind of feature problem means, for a dialog's legend
PROBLEM_KINDS = {
    "no_geometry": "the feature has no geometry (null, or empty)",
    "empty_geometry": "the feature's geometry has no coordinates",
    "mixed_geometry_types": "a geometry of another type than the layer's polygons",
    "non_closed_ring": "a polygon ring whose last point is not its first",
    "too_few_points": "a polygon ring with fewer than three distinct corners",
    "bad_coordinates": "a coordinate that is not a finite number",
    "invalid_geometry": "a polygon that crosses itself or is otherwise not valid",
    "reprojection": "the feature could not be taken to the store's CRS",
    "encoding": "a text that is not in the file's encoding",
    "encoding_fallback": "a text read as Windows-1252 because it is not UTF-8 (check it)",
    "crs_override": "the CRS given for the file differs from the one it declares",
}


@dataclass
class FeatureProblem:
    """One thing wrong with one feature (or, without fid and index, with the file)."""

    file: str
    layer: Optional[str]
    fid: Optional[str]
    index: Optional[int]
    field: Optional[str]
    kind: str
    reason: str
    value: Optional[str] = None
    severity: str = ERROR

    @property
    def where(self) -> str:
        parts = [os.path.basename(self.file)]
        if self.layer:
            parts.append(f"layer {self.layer!r}")
        if self.index is not None:
            parts.append(f"feature fid {self.fid} (index {self.index})")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts)

    @property
    def message(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class SpatialFeature:
    index: int
    fid: str
    attributes: dict[str, Any]
    #: in the target CRS; None when it could not be built (see problems)
    geometry: Any = None
    problems: list[FeatureProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)


@dataclass
class SpatialFile:
    path: str
    layer: Optional[str]
    driver: str
    target_srid: int
    source_crs: str = ""
    encoding: str = ""
    geometry_types: dict[str, int] = field(default_factory=dict)
    features: list[SpatialFeature] = field(default_factory=list)
    #: problems of the whole file that do not stop the reading (warnings)
    notes: list[FeatureProblem] = field(default_factory=list)

    @property
    def problems(self) -> list[FeatureProblem]:
        return [*self.notes, *(p for f in self.features for p in f.problems)]

    def usable(self) -> list[SpatialFeature]:
        return [f for f in self.features if f.ok]

    def problem(self, feature: SpatialFeature | None, kind: str, reason: str, *,
                field_name: str | None = None, value: Any = None,
                severity: str = ERROR) -> None:
        entry = FeatureProblem(
            self.path, self.layer, None if feature is None else feature.fid,
            None if feature is None else feature.index, field_name, kind, reason,
            None if value is None else str(value)[:200], severity)
        (self.notes if feature is None else feature.problems).append(entry)

    @property
    def label(self) -> str:
        """The file and layer, as messages name them."""
        return self.path + (f", layer {self.layer!r}" if self.layer else "")
