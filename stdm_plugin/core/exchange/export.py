"""Exporting a settlement store for the cadastre and partners (issue #6 point 3, #7 point 4).

``export_store`` writes parcels, structures, parties, tenure and the
certificate register to GeoPackage, Shapefile, GeoJSON or CSV, in any
EPSG CRS, with a data dictionary; ``export_changes`` writes the parcels
created, modified or retired since a date (found by changes.py). Which
personal data goes out is the caller's choice (personal_data.py), and
``omit`` is the default: a file sent by mistake then names nobody.

An export appears whole or not at all (files.py). Every message
logged or raised here is passed through ``redact``, and a failure of the
writing library is re-raised as ExportError without its original text
(which can quote the record being written).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable

from ..safety.personal_data import PersonalDataFilter
from ..store.crs import resolve_srid
from ..store.errors import ExportError, StdmError
from ..store.redaction import redact
from .changes import PARCEL_CHANGES, count_changes, normalise_since, parcel_changes
from .dictionary import DictionaryLayer, dictionary_rows, write_dictionary
from .files import PendingExport
from .formats import (
    EXTENSIONS,
    FORMATS,
    PreparedLayer,
    field_names,
    finite,
    layer_file,
    reproject,
    write_layer,
)
from .layers import LAYER_CHOICES, LAYERS, LayerSpec, consistent_reads, read_layer

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

logger = logging.getLogger(__name__)

DEFAULT_GPKG = "stdm_export.gpkg"
DICTIONARY = "data_dictionary"
SIDECARS = {"shp": (".shp", ".shx", ".dbf", ".prj", ".cpg"), "csv": (".csv", ".csvt"),
            "geojson": (".geojson",), "gpkg": (".gpkg",)}
MODE_NOTES = {
    "include": "Personal data: included as recorded.",
    "omit": "Personal data: names, date of birth, ID and phone numbers, remarks about "
            "persons, unmapped survey answers and certificate snapshots are left out; "
            "ID- and phone-number-like text in other remarks is masked.",
    "pseudonymise": "Personal data: names, ID and phone numbers are replaced by stable "
                    "pseudonyms (HMAC-SHA256 under a secret key kept by the sender; equal "
                    "values have equal pseudonyms); the date of birth is replaced by the age; "
                    "remarks about persons, unmapped survey answers and certificate snapshots "
                    "are left out; ID- and phone-number-like text in other remarks is masked.",
}
COMMON_NOTES = ("Photos and scanned documents are not exported.",
                "Dates and times are ISO 8601 text, times in UTC.")


@dataclass
class ExportResult:
    """What an export wrote, for the caller to show and for a test to check."""

    format: str
    crs: str  #: "EPSG:<code>"
    personal_data: str
    files: list[str]  #: every file written, final paths
    layer_files: dict[str, str]  #: layer -> the file holding it
    feature_counts: dict[str, int]
    field_names: dict[str, dict[str, str]]  #: layer -> source column -> field in the file
    dictionary_path: str  #: the Markdown data dictionary
    dictionary_csv_path: str
    #: hex key of the pseudonyms (pseudonymise only); keep it secret, or throw it away
    pseudonym_key: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: export_changes: how many parcels are new, modified, retired
    change_counts: dict[str, int] = field(default_factory=dict)


def export_store(store: "SettlementStore", folder_or_file: str | os.PathLike, *,
                 format: str = "gpkg", crs: int | str | None = None,
                 layers: Iterable[str] = LAYER_CHOICES, personal_data: str = "omit",
                 settlement_id: str | None = None, include_retired: bool = False,
                 pseudonym_key: bytes | str | None = None,
                 overwrite: bool = False) -> ExportResult:
    """Export the store (or one settlement of it) in ``format`` and ``crs``.

    ``folder_or_file``: a folder for every format (made if missing), or a
    ``.gpkg`` file for GeoPackage. ``crs``: an EPSG code or "EPSG:xxxx",
    the store's CRS by default; anything else is refused (UnknownCrsError).
    ``personal_data``: "include", "omit" (default) or "pseudonymise", with
    ``pseudonym_key`` (hex or bytes) to give pseudonyms that match an
    earlier export, else a new key, returned in the result.
    ``include_retired`` adds records whose lifespan has ended. Existing
    files are not replaced unless ``overwrite``.
    """
    fmt = check_format(format)
    srid = output_srid(store, crs)
    wanted = check_layers(layers)
    check_settlement(store, settlement_id)
    privacy = PersonalDataFilter(personal_data, pseudonym_key)
    with consistent_reads(store):
        prepared = [prepare_layer(store, spec, read_layer(
            store, spec, settlement_id=settlement_id, include_retired=include_retired),
            privacy, srid) for name in wanted for spec in LAYERS[name]]
    return write_export(store, folder_or_file, fmt, srid, prepared, privacy,
                        title="Settlement store export", overwrite=overwrite)


def export_changes(store: "SettlementStore", since: str | date | datetime,
                   path: str | os.PathLike, *, format: str = "gpkg",
                   crs: int | str | None = None, settlement_id: str | None = None,
                   personal_data: str = "omit", overwrite: bool = False) -> ExportResult:
    """Write the parcels created, modified or retired since ``since`` (one layer,
    ``parcel_changes``, with ``change`` new/modified/retired and ``changed_at``).

    ``since``: an ISO 8601 date or date-time (UTC unless it says otherwise).
    The result's ``change_counts`` says how many of each.
    """
    fmt = check_format(format)
    srid = output_srid(store, crs)
    moment = normalise_since(since)
    check_settlement(store, settlement_id)
    privacy = PersonalDataFilter(personal_data)
    with consistent_reads(store):
        rows = parcel_changes(store, moment, settlement_id)
    counts = count_changes(rows)
    layer = prepare_layer(store, PARCEL_CHANGES, rows, privacy, srid)
    result = write_export(store, path, fmt, srid, [layer], privacy,
                          title=f"Parcel changes since {moment}", overwrite=overwrite,
                          notes=[f"Changes since {moment}: " + ", ".join(
                              f"{n} {kind}" for kind, n in counts.items()) + "."])
    result.change_counts = counts
    return result


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return fmt


def output_srid(store: "SettlementStore", crs: int | str | None) -> int:
    """The EPSG code to write in: the store's by default; an unknown CRS is refused."""
    return store.srid if crs is None else resolve_srid(crs)


def check_settlement(store: "SettlementStore", settlement_id: str | None) -> None:
    if settlement_id is not None and not store.db.scalar(
            "SELECT count(*) FROM settlement WHERE id = ?", (settlement_id,)):
        raise ExportError(f"There is no settlement with id {settlement_id!r} in this store.")


def check_layers(layers: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
    unknown = [name for name in wanted if name not in LAYER_CHOICES]
    if unknown or not wanted:
        raise ExportError(f"Unknown layer(s) {', '.join(map(repr, unknown)) or '(none)'}; "
                          f"choose among {', '.join(LAYER_CHOICES)}.")
    return [name for name in LAYER_CHOICES if name in wanted]


def prepare_layer(store: "SettlementStore", spec: LayerSpec, rows: list[dict[str, Any]],
                  privacy: PersonalDataFilter, srid: int) -> PreparedLayer:
    """Treat the rows for privacy and take the geometries to the output CRS."""
    kept = set(privacy.kept_columns(spec.table, spec.column_names))
    geometries = None
    if spec.geometry:
        geometries = reproject([row.pop(spec.geometry) for row in rows], store.srid, srid)
        for row, geometry in zip(rows, geometries):
            if not finite(geometry):
                raise ExportError(
                    f"{spec.name}: {row.get('code') or row.get('id')} cannot be expressed in "
                    f"EPSG:{srid} (it lies outside the area that CRS covers); choose another "
                    "CRS.")
    treated = [privacy.apply(spec.table, row) for row in rows]
    return PreparedLayer(spec, [c for c in spec.columns if c.name in kept], treated, geometries)


def write_export(store: "SettlementStore", folder_or_file: str | os.PathLike, fmt: str,
                 srid: int, prepared: list[PreparedLayer], privacy: PersonalDataFilter, *,
                 title: str, overwrite: bool, notes: Iterable[str] = ()) -> ExportResult:
    """Write prepared layers and their dictionary into place, all or nothing."""
    folder, gpkg_name, stem = export_target(folder_or_file, fmt)
    crs = f"EPSG:{srid}"
    warnings = _crs_warnings(fmt, srid, prepared)
    pending = PendingExport(folder, overwrite=overwrite)
    try:
        pending.refuse_existing(_expected_files(fmt, prepared, gpkg_name, stem))
        layer_names: dict[str, str] = {}
        items = []
        for layer in prepared:
            name = write_layer(fmt, pending.work, layer, srid, gpkg_name, warnings)
            layer_names[layer.name] = name
            items.append(DictionaryLayer(layer, name, field_names(fmt, layer), len(layer.rows)))
        counts = {layer.name: len(layer.rows) for layer in prepared}
        rows = dictionary_rows(store, fmt, crs, privacy.mode, items)
        write_dictionary(pending.path(stem + ".csv"), pending.path(stem + ".md"), rows,
                         title=title, fmt=fmt, crs=crs, mode=privacy.mode, counts=counts,
                         notes=[*notes, MODE_NOTES[privacy.mode], *COMMON_NOTES, *warnings])
        files = pending.publish(_publish_order(os.listdir(pending.work), stem))
    except StdmError as exc:
        _log(logging.ERROR, f"Export to {folder} refused or failed: {exc}")
        raise
    except Exception as exc:  # the writing library's own message may quote a record
        message = redact(f"The export to {folder} failed ({type(exc).__name__}: {exc}); "
                         "nothing was written.")
        _log(logging.ERROR, message)
        raise ExportError(message, folder) from None
    finally:
        pending.discard()
    _log(logging.INFO, f"Exported {', '.join(f'{n} {k}' for k, n in counts.items())} as "
                       f"{fmt} in {crs} to {folder} (personal data: {privacy.mode}).")
    return ExportResult(
        format=fmt, crs=crs, personal_data=privacy.mode, files=files,
        layer_files={k: pending.final(v) for k, v in layer_names.items()},
        feature_counts=counts, field_names={i.layer.name: i.names for i in items},
        dictionary_path=pending.final(stem + ".md"),
        dictionary_csv_path=pending.final(stem + ".csv"),
        pseudonym_key=privacy.key_hex, warnings=warnings)


def export_target(path: str | os.PathLike, fmt: str) -> tuple[str, str, str]:
    """(folder, GeoPackage file name, dictionary file stem) for what the caller gave."""
    text = os.fspath(path)
    if not text:
        raise ExportError("Choose a folder (or a .gpkg file) to export to.")
    extension = os.path.splitext(text)[1].lower()
    if fmt == "gpkg" and extension == ".gpkg":
        stem = os.path.splitext(os.path.basename(text))[0]
        return os.path.dirname(os.path.abspath(text)), os.path.basename(text), \
            f"{stem}_dictionary"
    if extension in EXTENSIONS.values():
        raise ExportError(f"A {fmt} export is written into a folder, not to {text}; give a "
                          "folder" + (" or a .gpkg file." if fmt == "gpkg" else "."), text)
    return os.path.abspath(text), DEFAULT_GPKG, DICTIONARY


def _expected_files(fmt: str, prepared: list[PreparedLayer], gpkg_name: str,
                    stem: str) -> list[str]:
    names = {stem + ".csv", stem + ".md"}
    for layer in prepared:
        base, extension = os.path.splitext(layer_file(fmt, layer, gpkg_name))
        sidecars = SIDECARS["csv"] if extension == ".csv" else SIDECARS[fmt]
        names.update(base + s for s in sidecars)
    return sorted(names)


def _publish_order(names: list[str], stem: str) -> list[str]:
    """The dictionary first, the data after it, a GeoPackage last."""
    return sorted(names, key=lambda n: (not n.startswith(stem), n.endswith(".gpkg"), n))


def _crs_warnings(fmt: str, srid: int, prepared: list[PreparedLayer]) -> list[str]:
    if fmt == "geojson" and srid != 4326 and any(layer.spatial for layer in prepared):
        return [f"GeoJSON in EPSG:{srid} is written with a 'crs' member (GeoJSON 2008, as "
                "GDAL and QGIS write it); RFC 7946 GeoJSON is WGS 84 only (EPSG:4326), so "
                "some web tools will misplace these files."]
    return []


def _log(level: int, message: str) -> None:
    logger.log(level, "%s", redact(message))
