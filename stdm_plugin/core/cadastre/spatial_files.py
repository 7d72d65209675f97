"""Read a Shapefile, GeoPackage layer or GeoJSON file into plain features, every defect named.

Cadastres and building footprints reach a settlement team from many hands,
so nothing here trusts the file. A file that cannot be read at all raises a
SpatialFileError (SourceCrsError for its CRS); everything wrong with one
feature becomes a FeatureProblem naming the file, layer, feature (its fid
and its index, counted from 0 in the layer) and field, so that whoever made
the file can find it.

Decisions:

- Rings are checked on the coordinates fiona returns, before shapely sees
  them: GDAL hands over an unclosed ring as it is, and shapely would close
  it silently. An unclosed ring is an error, never repaired here.
- A file without a CRS (a Shapefile without .prj) is refused unless the
  caller says which CRS its coordinates are in (``source_crs``); a given
  CRS that differs from the one the file declares wins, with a warning.
- Text: GeoPackage and GeoJSON are UTF-8 by their standards, so a text
  that is not is an error of that feature and field. A Shapefile declares
  its encoding in a .cpg file or its .dbf header; when it declares none,
  each text is read as UTF-8 and, failing that, as Windows-1252 (what
  desktop GIS on Windows write) with a warning naming the feature and field:
  the import goes on and the value can be checked. ``encoding`` forces one.
  A .cpg naming an encoding not known here is refused rather than guessed.
- A Shapefile whose .shx and .dbf do not add up (a record count, a header
  length, a cut) is refused whole: GDAL would read part of it, or shift its
  attributes, without a word (see shapefile_parts).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import zipfile
from typing import Any, Iterator

from ..store.errors import SourceCrsError, SpatialFileError
from .shapefile_parts import check_records, declared_encoding, sibling
from .spatial_features import (
    DRIVERS,
    FALLBACK_ENCODING,
    POLYGONAL,
    WARNING,
    SpatialFeature,
    SpatialFile,
)
from .spatial_geometry import build_geometries, project


def list_layers(path: str | os.PathLike) -> list[str]:
    """The layers of a GeoPackage (one name for a Shapefile or GeoJSON)."""
    path = os.fspath(path)
    driver = _driver_for(path)
    if driver != "GPKG":
        return [os.path.splitext(os.path.basename(path))[0]]
    import fiona
    from fiona.errors import FionaError

    try:
        return list(fiona.listlayers(path))
    except (FionaError, OSError, UnicodeDecodeError) as exc:  # a layer name not in UTF-8
        raise SpatialFileError(f"{path} could not be read as a GeoPackage: {exc}", path=path,
                               kind="unreadable") from exc


def read_spatial_file(path: str | os.PathLike, target_srid: int, *, layer: str | None = None,
                      source_crs: str | int | None = None, encoding: str | None = None,
                      expect: tuple[str, ...] | None = POLYGONAL) -> SpatialFile:
    """Every feature of one layer, in EPSG:``target_srid``, with its problems.

    ``expect`` is the geometry types the caller can use (None: any); a
    feature of another type is a ``mixed_geometry_types`` problem, a layer
    with none of them a SpatialFileError.
    """
    path = os.fspath(path)
    driver = _driver_for(path)
    layer = _choose_layer(path, driver, layer)
    result = SpatialFile(path, layer if driver == "GPKG" else None, driver, target_srid)
    with _opened(path, driver, layer, encoding, result) as (collection, fallback, bad_texts):
        crs = _source_crs(collection, path, driver, source_crs, result)
        raw = _read_features(collection, result, fallback, bad_texts)
    if not raw:
        raise SpatialFileError(f"{result.label} has no features.", path=path,
                               kind="empty_layer", layer=layer)
    build_geometries(raw, result, expect)
    project(result, crs, target_srid)
    return result


# --- the file as a whole ----------------------------------------------------------------
def _driver_for(path: str) -> str:
    if not os.path.exists(path):
        raise SpatialFileError(f"{path} does not exist.", path=path, kind="missing_file")
    if os.path.isdir(path):
        raise SpatialFileError(f"{path} is a folder; choose the .shp, .gpkg or .geojson file "
                               "in it.", path=path, kind="folder")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            inside = [n for n in archive.namelist() if os.path.splitext(n)[1].lower() in DRIVERS]
        held = f"holding {', '.join(inside[:5])}" if inside else "with no spatial file in it"
        raise SpatialFileError(f"{path} is a zip archive ({held}); unzip it and choose the "
                               "file inside.", path=path, kind="zip_archive")
    driver = DRIVERS.get(os.path.splitext(path)[1].lower())
    if driver is None:
        raise SpatialFileError(f"{path} is not a Shapefile (.shp), GeoPackage (.gpkg) or "
                               "GeoJSON (.geojson, .json) file.", path=path, kind="not_spatial")
    if driver == "ESRI Shapefile":
        missing = [e for e in (".shx", ".dbf") if sibling(path, e) is None]
        if missing:
            raise SpatialFileError(f"{path} is a Shapefile without its {' and '.join(missing)} "
                                   "file(s); copy every file of the Shapefile together.",
                                   path=path, kind="missing_sidecar")
    return driver


def _choose_layer(path: str, driver: str, layer: str | None) -> str | None:
    if driver != "GPKG":
        return None
    names = list_layers(path)
    if layer is not None and layer not in names:
        raise SpatialFileError(f"{path} has no layer {layer!r}; its layers are: "
                               f"{', '.join(names) or 'none'}.", path=path, kind="layer",
                               layer=layer)
    if layer is None and len(names) != 1:
        raise SpatialFileError(
            f"{path} has {len(names)} layers ({', '.join(names)}); choose one." if names else
            f"{path} has no layers.", path=path, kind="layer" if names else "empty_layer")
    return layer or names[0]


def _scan_geojson(path: str) -> tuple[bytes | None, dict[int, list[tuple[str, str]]]]:
    """GeoJSON bytes that are not UTF-8: a repaired copy and which feature and field."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        data.decode("utf-8")
        return None, {}
    except UnicodeDecodeError as exc:
        first = exc.start
    bad: dict[int, list[tuple[str, str]]] = {}
    try:
        doc = json.loads(data.decode("utf-8", "surrogateescape"))
        features = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
        for index, feature in enumerate(features or []):
            for key, value in ((feature or {}).get("properties") or {}).items():
                if isinstance(value, str) and re.search("[\udc80-\udcff]", key + value):
                    shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    bad.setdefault(index, []).append((key, shown))
    except (ValueError, AttributeError, TypeError, RecursionError):  # nested past Python's
        pass  # limit: then the byte offset is all the message can give
    if not bad:
        raise SpatialFileError(f"{path} is not UTF-8 text (byte {first}), as GeoJSON must be.",
                               path=path, kind="encoding")
    return data.decode("utf-8", "replace").encode("utf-8"), bad


@contextlib.contextmanager
def _opened(path: str, driver: str, layer: str | None, encoding: str | None,
            result: SpatialFile) -> Iterator[tuple[Any, bool, dict]]:
    import fiona
    from fiona.errors import FionaError
    from fiona.io import MemoryFile

    options: dict[str, Any] = {} if layer is None else {"layer": layer}
    fallback, bad_texts, repaired = False, {}, None
    result.encoding = "UTF-8"
    if driver == "GeoJSON":
        repaired, bad_texts = _scan_geojson(path)
    elif driver == "ESRI Shapefile":
        written, codec = (None if encoding else declared_encoding(path)) or (None, None)
        fallback = not encoding and not written
        result.encoding = encoding or written or "UTF-8, else Windows-1252 (none declared)"
        if encoding or codec or fallback:  # decoded here, so that a bad text is named
            options["encoding"] = encoding or codec or "utf-8"
    with contextlib.ExitStack() as stack:
        try:
            try:
                if repaired is not None:
                    memory = stack.enter_context(MemoryFile(repaired, ext=".geojson"))
                    collection = stack.enter_context(memory.open())
                else:
                    collection = stack.enter_context(fiona.open(path, **options))
                schema = collection.schema
            except UnicodeDecodeError:
                if not fallback:
                    raise
                fallback = False
                result.encoding = FALLBACK_ENCODING
                collection = stack.enter_context(fiona.open(path, encoding=FALLBACK_ENCODING))
                schema = collection.schema
                result.problem(None, "encoding_fallback", "the field names are not UTF-8 and the "
                               "file declares no encoding (no .cpg): every text was read as "
                               "Windows-1252; add a .cpg file naming the encoding if that is "
                               "wrong.", severity=WARNING)
        except UnicodeDecodeError as exc:
            raise SpatialFileError(f"{result.label}: the field names are not "
                                   f"{result.encoding} ({exc.reason} at byte {exc.start}).",
                                   path=path, kind="encoding", layer=layer) from exc
        except (FionaError, OSError, ValueError) as exc:
            raise SpatialFileError(f"{result.label} could not be read: {exc}", path=path,
                                   kind="unreadable", layer=layer) from exc
        if driver == "ESRI Shapefile":
            check_records(path)
        if schema.get("geometry") in (None, "None"):
            raise SpatialFileError(f"{result.label} is a table without geometries.",
                                   path=path, kind="no_geometry_column", layer=layer)
        yield collection, fallback, bad_texts


def _source_crs(collection: Any, path: str, driver: str, given: str | int | None,
                result: SpatialFile) -> Any:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    declared, trouble = None, ""
    try:
        wkt = collection.crs_wkt
    except Exception as exc:  # GDAL's own error types, e.g. a .prj cut short ("missing ]")
        wkt, trouble = "", f"its CRS is not understood ({exc})"
    if wkt:
        try:
            declared = CRS.from_wkt(wkt)
        except CRSError as exc:
            trouble = f"its CRS is not understood ({exc})"
    if given is not None:
        try:
            chosen = CRS.from_user_input(f"EPSG:{given}" if str(given).isdigit() else given)
        except CRSError as exc:
            raise SourceCrsError(f"The CRS given for {path}, {given!r}, is unknown: {exc}",
                                 path=path, kind="unknown_crs") from exc
        if declared is not None and not declared.equals(chosen, ignore_axis_order=True):
            result.problem(None, "crs_override", f"the file declares {_crs_label(declared)}; "
                           f"read as {_crs_label(chosen)} as asked.", severity=WARNING)
        result.source_crs = _crs_label(chosen)
        return chosen
    if declared is None:
        prj = sibling(path, ".prj") if driver == "ESRI Shapefile" else None
        if driver == "ESRI Shapefile" and prj is None:
            trouble = "it has no .prj file, so the CRS of its coordinates is unknown"
        elif not trouble:
            trouble = f"{'its .prj' if prj else 'it'} declares no CRS GDAL understands"
        raise SourceCrsError(f"{result.label} is refused: {trouble}. Say which CRS its "
                             "coordinates are in (source CRS), or add the CRS to the file.",
                             path=path, kind="missing_crs" if prj is None else "unknown_crs",
                             layer=result.layer)
    result.source_crs = _crs_label(declared)
    return declared


def _crs_label(crs: Any) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


# --- the features -----------------------------------------------------------------------
def _read_features(collection: Any, result: SpatialFile, fallback: bool,
                   bad_texts: dict) -> list[tuple[SpatialFeature, Any]]:
    raw: list[tuple[SpatialFeature, Any]] = []
    index = 0
    try:
        for index, item in enumerate(collection):
            feature = SpatialFeature(index, str(item.id), {})
            for name, value in dict(item.properties).items():
                if isinstance(value, bytes):
                    value = _undecodable(result, feature, name, value, fallback)
                feature.attributes[name] = value
            for name, shown in bad_texts.get(index, ()):
                result.problem(feature, "encoding", "this text is not UTF-8, as GeoJSON must "
                               "be; fix it in the file (shown with \ufffd for each bad byte).",
                               field_name=name, value=shown)
            raw.append((feature, item.geometry))
    except Exception as exc:  # a broken record: GDAL and fiona raise many types
        raise SpatialFileError(f"{result.label}: feature index {index + 1 if raw else 0} "
                               f"could not be read: {exc}", path=result.path,
                               kind="unreadable", layer=result.layer) from exc
    return raw


def _undecodable(result: SpatialFile, feature: SpatialFeature, name: str, value: bytes,
                 fallback: bool) -> str:
    if fallback:
        try:
            text = value.decode(FALLBACK_ENCODING)
        except UnicodeDecodeError:
            pass
        else:
            result.problem(feature, "encoding_fallback", f"this text is not UTF-8 and the file "
                           f"declares no encoding (no .cpg): read as Windows-1252 as {text!r}; "
                           "check it, or add a .cpg file naming the encoding.",
                           field_name=name, value=text, severity=WARNING)
            return text
    shown = value.decode("utf-8", "replace")
    result.problem(feature, "encoding", f"this text cannot be read as {result.encoding} "
                   "(shown with \ufffd for each bad byte).", field_name=name, value=shown)
    return shown
