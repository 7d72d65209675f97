"""Reading a record's past versions back from the audit log; writing the store's own log of
trust acts (store_event)."""
from __future__ import annotations

import json

from .backend import Backend
from .schema import STORE_EVENT_TABLE


def record_versions(db: Backend, table: str, record_id: str) -> list[dict]:
    """Each version of a record, oldest first, with its lifespan and author.

    A version begins at the insert or update that wrote it and ends at the
    next change (or stays open if it is the current one). Inserts are logged
    without values (the row holds them), so the first version's values come
    from the first update's old values, or from the row if never changed.
    """
    events = db.query(
        "SELECT action, changed_at, changed_by, old_values, new_values FROM audit_log "
        "WHERE table_name = ? AND record_id = ? ORDER BY id", (table, record_id))
    versions: list[dict] = []
    for event in events:
        if versions:
            versions[-1]["end"] = event["changed_at"]
            if versions[-1]["values"] is None and event["old_values"]:
                versions[-1]["values"] = json.loads(event["old_values"])
        if event["action"] == "delete":
            continue
        values = json.loads(event["new_values"]) if event["new_values"] else None
        versions.append({"begin": event["changed_at"], "end": None, "action": event["action"],
                         "changed_by": event["changed_by"], "values": values})
    if versions and versions[-1]["values"] is None:
        row = db.query_one(f"SELECT * FROM {table} WHERE id = ?", (record_id,))
        versions[-1]["values"] = None if row is None else {
            k: (bytes(v).hex().upper() if isinstance(v, (bytes, memoryview)) else v)
            for k, v in row.items()}
    return versions


def record_store_event(db: Backend, event: str, happened_by: str, details: dict) -> None:
    """Append a trust act (a key made, protected or retired; an unverified backup accepted)
    to store_event, in the caller's transaction; the database stamps when."""
    db.execute(f"INSERT INTO {STORE_EVENT_TABLE} (event, happened_by, details) VALUES (?, ?, ?)",
               (event, happened_by, json.dumps(details, sort_keys=True)))
