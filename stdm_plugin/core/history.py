"""Reading a record's past versions back from the audit log."""
from __future__ import annotations

import json

from .backend import Backend


def record_versions(db: Backend, table: str, record_id: str) -> list[dict]:
    """Each version of a record, oldest first, with its lifespan and author.

    A version begins at the insert or update that wrote it and ends at the
    next change (or stays open if it is the current one).
    """
    rows = db.query(
        "SELECT id, action, changed_at, changed_by, new_values FROM audit_log "
        "WHERE table_name = ? AND record_id = ? ORDER BY id", (table, record_id))
    versions: list[dict] = []
    for row in rows:
        if versions:
            versions[-1]["end"] = row["changed_at"]
        if row["action"] == "delete":
            continue
        versions.append({
            "begin": row["changed_at"], "end": None, "action": row["action"],
            "changed_by": row["changed_by"], "values": json.loads(row["new_values"]),
        })
    return versions
