"""Which parcels changed since a date: what the cadastre needs to update its copy.

A parcel is *new* when it was created on or after the date, *retired*
when its lifespan ended on or after it (and it existed before), and
*modified* when it was saved again on or after it (geometry or any
attribute, by the plugin or by QGIS's own tools: the store stamps both).
A parcel both created and retired since the date never reached the
cadastre and is left out. For a modified parcel the audit log tells
which fields differ between the date and now (``changed_fields``); a
change undone since shows as modified with no field.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from ..store.errors import ExportError
from ..store.model import RECORD_FIELDS
from ..store.records import json_list
from .layers import PARCELS, Column, LayerSpec, read_layer

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

CHANGE_KINDS = ("new", "modified", "retired")
CHANGE_COLUMNS = (
    Column("change", "text", "What happened to the parcel since the date", "change"),
    Column("changed_at", "datetime", "When (UTC): created, last saved, or retired"),
    Column("changed_fields", "text", "For a modified parcel: the fields that differ from "
           "the date, separated by ';' (boundary = the geometry)"),
)
PARCEL_CHANGES = LayerSpec(
    "parcel_changes", "spatial_unit",
    "Parcels created, modified or retired since the date (the cadastre's update)",
    CHANGE_COLUMNS + PARCELS.columns, where=PARCELS.where, geometry=PARCELS.geometry,
    geometry_type=PARCELS.geometry_type, order_by=PARCELS.order_by)
#: bookkeeping columns: a save changes them, they are not a change of the parcel
NOT_A_CHANGE = {"id", *RECORD_FIELDS}


def normalise_since(since: str | date | datetime) -> str:
    """``since`` as the store writes times (``2026-03-01T00:00:00.000Z``), in UTC.

    A date means its midnight UTC; a time without a zone is taken as UTC.
    """
    if isinstance(since, datetime):
        moment = since
    elif isinstance(since, date):
        moment = datetime(since.year, since.month, since.day)
    else:
        text = str(since).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ExportError(f"since must be an ISO 8601 date or date-time such as "
                              f"2026-03-01 or 2026-03-01T08:00:00Z, not {since!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parcel_changes(store: "SettlementStore", since: str,
                   settlement_id: str | None = None) -> list[dict[str, Any]]:
    """The changed parcels' rows (with geometry), each with change, changed_at, changed_fields."""
    rows = read_layer(store, PARCELS, settlement_id=settlement_id, include_retired=True,
                      where="updated_at >= ?", params=(since,))
    changes = []
    for row in rows:
        created_since = row["created_at"] >= since
        retired = row["end_lifespan_version"] is not None
        if retired and created_since:
            continue
        if retired:
            kind, when = "retired", row["end_lifespan_version"]
        elif created_since:
            kind, when = "new", row["created_at"]
        else:
            kind, when = "modified", row["updated_at"]
        changes.append({"change": kind, "changed_at": when, "changed_fields": None, **row})
    modified = [row for row in changes if row["change"] == "modified"]
    fields = changed_fields(store, [row["id"] for row in modified], since)
    for row in modified:
        row["changed_fields"] = ";".join(fields.get(row["id"], []))
    return changes


def changed_fields(store: "SettlementStore", ids: list[str], since: str) -> dict[str, list[str]]:
    """Per parcel, the fields whose value at ``since`` differs from the latest saved one."""
    if not ids:
        return {}
    events = store.db.query(
        "SELECT record_id, old_values, new_values FROM audit_log WHERE table_name = ? "
        f"AND action = 'update' AND changed_at >= ? AND record_id IN {store.db.json_list_sql} "
        "ORDER BY id", ("spatial_unit", since, json_list(ids)))
    before: dict[str, dict[str, Any]] = {}
    after: dict[str, dict[str, Any]] = {}
    for event in events:
        before.setdefault(event["record_id"], _values(event["old_values"]))
        after[event["record_id"]] = _values(event["new_values"])
    return {record_id: sorted(
        name for name in set(old) | set(after[record_id])
        if name not in NOT_A_CHANGE and old.get(name) != after[record_id].get(name))
        for record_id, old in before.items()}


def _values(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    return text if isinstance(text, dict) else json.loads(text)


def count_changes(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {kind: sum(1 for row in rows if row["change"] == kind) for kind in CHANGE_KINDS}
