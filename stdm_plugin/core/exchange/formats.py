"""Writing one prepared layer in each exchange format, within each format's limits.

- GeoPackage: every layer in one file; tables without geometry become
  attribute-only layers.
- Shapefile: one ``.shp`` set per spatial layer with its ``.prj`` and a
  ``.cpg`` saying UTF-8; field names cut to 10 characters by a fixed table
  (``share_numerator`` -> ``share_num``) and a collision rule; text fields
  sized to their longest value (at most 254 bytes, longer values are cut
  and reported); tables without geometry are written as CSV, with the
  same short field names.
- GeoJSON: one file per layer, tables without geometry as features
  without geometry. RFC 7946 wants WGS 84 longitude/latitude: in
  EPSG:4326 the files follow it (8 decimals, about a millimetre); in any
  other CRS they are written as GDAL and QGIS write them, with the
  GeoJSON 2008 ``crs`` member naming the CRS, and the export warns that
  such a file is not RFC 7946 GeoJSON. GDAL writes a text holding a JSON
  object (``answers``, a certificate's ``snapshot``) as that object.
- CSV: UTF-8 with a header; spatial layers start with a ``WKT`` column
  (the name GDAL and QGIS look for); a ``.csvt`` beside each file gives
  the column types so that GDAL and QGIS read numbers as numbers.

Dates and times are written as ISO 8601 text in every format (no Date
type: the Shapefile's cannot hold a time, and text reads back exactly).
In Shapefiles and CSV an empty text and a missing one cannot be told
apart; numbers keep their nulls.
"""
from __future__ import annotations

import csv
import itertools
import math
import os
from dataclasses import dataclass
from typing import Any

from .layers import Column, LayerSpec

FORMATS = ("gpkg", "shp", "geojson", "csv")
EXTENSIONS = {"gpkg": ".gpkg", "shp": ".shp", "geojson": ".geojson", "csv": ".csv"}
DRIVERS = {"gpkg": "GPKG", "shp": "ESRI Shapefile", "geojson": "GeoJSON"}
FIONA_TYPES = {"text": "str", "date": "str", "datetime": "str", "json": "str",
               "integer": "int", "real": "float"}
CSVT_TYPES = {"str": "String", "int": "Integer64", "float": "Real"}
WKT_FIELD = "WKT"
DBF_NAME_LIMIT = 10
DBF_TEXT_LIMIT = 254
GEOJSON_DECIMALS = 8
WRITE_BATCH = 1000

#: Shapefile names of the columns longer than 10 characters; others are cut
SHORT_NAMES = {
    "settlement_id": "settle_id", "begin_lifespan_version": "begin_life",
    "end_lifespan_version": "end_life", "row_version": "row_ver",
    "submission_id": "submit_id", "needs_mapping": "needs_map",
    "date_of_birth": "birth_date", "id_document_type": "id_type",
    "id_document_number": "id_number", "household_role": "hh_role",
    "group_party_id": "group_id", "spatial_unit_id": "unit_id", "tenure_type": "tenure_typ",
    "share_numerator": "share_num", "share_denominator": "share_den",
    "adjudication_state": "adj_state", "public_display_id": "display_id",
    "snapshot_sha256": "snap_sha", "print_count": "print_cnt",
    "revoked_reason": "revoke_why", "superseded_by": "supersedby",
    "changed_fields": "chg_fields",
}


@dataclass
class PreparedLayer:
    """A layer ready to write: its kept columns, treated rows and reprojected geometries."""

    spec: LayerSpec
    columns: list[Column]
    rows: list[dict[str, Any]]
    geometries: list[Any] | None  #: in the output CRS; None for a table

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def spatial(self) -> bool:
        return self.geometries is not None


def short_names(names: list[str], limit: int = DBF_NAME_LIMIT) -> dict[str, str]:
    """Unique names of at most ``limit`` characters, the same for the same columns.

    A name in SHORT_NAMES takes its short form, any other is cut to the
    limit; a name already taken (compared without case, as DBF does) gets
    ``_2``, ``_3``... in its last characters, in column order.
    """
    used: set[str] = set()
    out: dict[str, str] = {}
    for name in names:
        base = SHORT_NAMES.get(name, name)[:limit]
        candidate, n = base, 2
        while candidate.casefold() in used:
            suffix = f"_{n}"
            candidate, n = base[:limit - len(suffix)] + suffix, n + 1
        used.add(candidate.casefold())
        out[name] = candidate
    return out


def field_names(fmt: str, layer: PreparedLayer) -> dict[str, str]:
    """Source column -> field name in ``fmt``.

    Only a Shapefile export renames, and all its layers alike, the CSV
    tables too: the same column has the same short name in every file, and
    the tables can be joined to the .dbf files by tools that keep DBF limits.
    """
    names = [c.name for c in layer.columns]
    if fmt == "shp":
        return short_names(names)
    return {n: n for n in names}


def layer_file(fmt: str, layer: PreparedLayer, gpkg_name: str) -> str:
    """The file (within the export folder) that holds ``layer``."""
    if fmt == "gpkg":
        return gpkg_name
    if fmt == "shp" and not layer.spatial:
        return layer.name + ".csv"
    return layer.name + EXTENSIONS[fmt]


def write_layer(fmt: str, folder: str, layer: PreparedLayer, srid: int, gpkg_name: str,
                warnings: list[str]) -> str:
    """Write ``layer`` under ``folder``; returns the file name (relative to ``folder``)."""
    names = field_names(fmt, layer)
    name = layer_file(fmt, layer, gpkg_name)
    path = os.path.join(folder, name)
    if fmt == "csv" or (fmt == "shp" and not layer.spatial):
        _write_csv(path, layer, names)
    else:
        _write_fiona(fmt, path, layer, names, srid, warnings)
    return name


def _write_fiona(fmt: str, path: str, layer: PreparedLayer, names: dict[str, str], srid: int,
                 warnings: list[str]) -> None:
    import fiona
    from fiona.crs import CRS
    from shapely.geometry import mapping

    values = [_typed_row(layer, row) for row in layer.rows]
    widths = _text_widths(layer, values, warnings) if fmt == "shp" else {}
    properties = {names[c.name]: widths.get(c.name, FIONA_TYPES[c.kind])
                  for c in layer.columns}
    schema = {"geometry": layer.spec.geometry_type if layer.spatial else "None",
              "properties": properties}
    options: dict[str, Any] = {}
    if fmt == "shp":
        options["encoding"] = "utf-8"
    if fmt == "gpkg":
        options["layer"] = layer.name
    if fmt == "geojson" and layer.spatial and srid == 4326:
        options.update(RFC7946="YES", COORDINATE_PRECISION=GEOJSON_DECIMALS)
    crs = CRS.from_epsg(srid) if layer.spatial else None
    geometries = layer.geometries or [None] * len(values)
    features = ({"geometry": None if geometry is None else mapping(geometry),
                 "properties": {names[k]: v for k, v in row.items()}}
                for row, geometry in zip(values, geometries))
    with fiona.open(path, "w", driver=DRIVERS[fmt], schema=schema, crs=crs,
                    **options) as collection:
        while True:  # in batches: a GeoPackage commits once per batch
            batch = list(itertools.islice(features, WRITE_BATCH))
            if not batch:
                break
            collection.writerecords(batch)


def _write_csv(path: str, layer: PreparedLayer, names: dict[str, str]) -> None:
    """UTF-8 CSV (WKT first for a spatial layer) and its .csvt of column types."""
    import shapely

    header = [names[c.name] for c in layer.columns]
    types = [CSVT_TYPES[FIONA_TYPES[c.kind]] for c in layer.columns]
    if layer.spatial:
        header.insert(0, WKT_FIELD)
        types.insert(0, "WKT")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for index, row in enumerate(layer.rows):
            typed = _typed_row(layer, row)
            cells = ["" if v is None else _csv_text(v) for v in typed.values()]
            if layer.geometries is not None:
                geometry = layer.geometries[index]
                cells.insert(0, "" if geometry is None else shapely.to_wkt(
                    geometry, rounding_precision=-1, trim=True))
            writer.writerow(cells)
    with open(os.path.splitext(path)[0] + ".csvt", "w", encoding="utf-8") as handle:
        handle.write(",".join(f'"{t}"' for t in types) + "\n")


def _csv_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _typed_row(layer: PreparedLayer, row: dict[str, Any]) -> dict[str, Any]:
    """The row's kept values as the types the schema declares."""
    out = {}
    for column in layer.columns:
        value = row.get(column.name)
        if value is not None:
            kind = FIONA_TYPES[column.kind]
            value = int(value) if kind == "int" else float(value) if kind == "float" \
                else str(value)
        out[column.name] = value
    return out


def _text_widths(layer: PreparedLayer, values: list[dict[str, Any]],
                 warnings: list[str]) -> dict[str, str]:
    """DBF widths of the text columns; values over 254 bytes are cut (and reported)."""
    widths = {}
    for column in layer.columns:
        if FIONA_TYPES[column.kind] != "str":
            continue
        longest, cut = 1, 0
        for row in values:
            text = row[column.name]
            if text is None:
                continue
            size = len(text.encode("utf-8"))
            if size > DBF_TEXT_LIMIT:
                row[column.name] = _cut_utf8(text, DBF_TEXT_LIMIT)
                size, cut = len(row[column.name].encode("utf-8")), cut + 1
            longest = max(longest, size)
        widths[column.name] = f"str:{longest}"
        if cut:
            warnings.append(f"{layer.name}.{column.name}: {cut} value(s) longer than "
                            f"{DBF_TEXT_LIMIT} bytes were cut to fit the Shapefile.")
    return widths


def _cut_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def reproject(geometries: list[Any], from_srid: int, to_srid: int) -> list[Any]:
    """The geometries in ``to_srid`` (x = easting or longitude); refuses non-finite results."""
    if from_srid == to_srid:
        return list(geometries)
    import numpy
    import shapely
    from pyproj import Transformer

    transform = Transformer.from_crs(from_srid, to_srid, always_xy=True).transform

    def project(xy):
        x, y = transform(xy[:, 0], xy[:, 1])
        return numpy.column_stack([x, y])

    array = numpy.asarray(geometries, dtype=object)
    present = numpy.array([g is not None for g in geometries], dtype=bool)
    out = numpy.empty(len(geometries), dtype=object)
    if present.any():
        out[present] = shapely.transform(array[present], project)
    return list(out)


def finite(geometry: Any) -> bool:
    if geometry is None:
        return True
    import shapely

    coords = shapely.get_coordinates(geometry)
    return bool(all(math.isfinite(v) for v in coords.ravel()))
