"""Adjudication: taking enumerated claims to approval, in the open.

A claim (a social tenure record) goes enumerated -> verified (a
supervisor checked it in the field) -> public display (listed for the
objection period of its block or settlement) -> approved (by a land
officer, once the period is over and no objection is open) -> issued
(a certificate names it). Anyone may record an objection against a claim
while it is in adjudication; an open objection blocks approval and
issuing. Every move is written to ``adjudication_event`` with who, their
role and when, and the rules are checked here, whatever the GUI shows.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from ..store.errors import AdjudicationError, ValidationError
from ..store.model import Record, SocialTenure
from ..store.records import RecordRepository, json_list, require
from ..store.users import require_permission

if TYPE_CHECKING:
    from ..store.store import Store

#: the state a claim must be in for each move, and the state it moves to
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "verify": (("enumerated",), "verified"),
    "open_public_display": (("verified",), "public_display"),
    "approve": (("public_display",), "approved"),
    "return_claim": (("verified", "public_display", "approved", "issued"), "enumerated"),
}
OBJECTION_OUTCOMES = ("upheld", "dismissed", "withdrawn")


@dataclass
class PublicDisplay(Record):
    settlement_id: Optional[str] = None
    block: Optional[str] = None
    starts_on: str = ""
    ends_on: str = ""
    place: Optional[str] = None


@dataclass
class Objection(Record):
    social_tenure_id: Optional[str] = None
    objector_name: str = ""
    objector_contact: Optional[str] = None
    grounds: str = ""
    raised_on: str = ""
    status: str = "open"
    resolution: Optional[str] = None
    resolved_at: Optional[str] = None
    resolved_by: Optional[str] = None


class PublicDisplayRepository(RecordRepository):
    table = "public_display"
    record_class = PublicDisplay


class ObjectionRepository(RecordRepository):
    table = "objection"
    record_class = Objection


def _date(value: str, field: str, table: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must be a date like 2026-11-25, not {value!r}",
                              table=table, field=field, value=value) from None


def _claims(store: "Store", claim_ids: Iterable[str]) -> list[SocialTenure]:
    ids = list(dict.fromkeys(claim_ids))
    require(bool(ids), "No claims were chosen", table="social_tenure", field="id")
    store.db.lock_rows("social_tenure", ids)
    found = store.tenure.find(f"id IN {store.db.json_list_sql}", (json_list(ids),))
    missing = set(ids) - {c.id for c in found}
    if missing:
        raise AdjudicationError(f"No current claim {sorted(missing)[0]}",
                                table="social_tenure", field="id",
                                record_id=sorted(missing)[0])
    return found  # type: ignore[return-value]


def move_claims(store: "Store", claims: Sequence[SocialTenure], to_state: str, *,
                role: str, note: str | None = None, display_id: str | None = None) -> None:
    """Write a state change and its events; the caller checked the rules and holds the
    transaction (also used by certificate issuing for "issued")."""
    from ..store.store import utc_now

    now = utc_now()
    for claim in claims:
        # the event first: the database lets a state move only behind its event (schema 8)
        store.db.execute(
            "INSERT INTO adjudication_event (social_tenure_id, from_state, to_state, "
            "changed_at, changed_by, role, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (claim.id, claim.adjudication_state, to_state, now, store.actor, role, note))
        store.db.execute(
            "UPDATE social_tenure SET adjudication_state = ?, public_display_id = ?, "
            "updated_at = ?, updated_by = ?, row_version = row_version + 1 WHERE id = ?",
            (to_state, display_id if to_state == "public_display" else claim.public_display_id
             if to_state != "enumerated" else None, now, store.actor, claim.id))
        claim.adjudication_state = to_state


def _role(store: "Store", action: str) -> str:
    user = require_permission(store, action)
    return user.role if user is not None else "unassigned"


def _move(store: "Store", action: str, claim_ids: Iterable[str], *,
          note: str | None = None, check=None, display_id: str | None = None) -> int:
    allowed_from, to_state = MOVES[action]
    with store.transaction():
        role = _role(store, action)
        claims = _claims(store, claim_ids)
        for claim in claims:
            if claim.adjudication_state not in allowed_from:
                raise AdjudicationError(
                    f"Claim {claim.id} is {claim.adjudication_state.replace('_', ' ')}; "
                    f"to {action.replace('_', ' ')} it must be "
                    f"{' or '.join(s.replace('_', ' ') for s in allowed_from)}",
                    table="social_tenure", field="adjudication_state",
                    value=claim.adjudication_state, record_id=claim.id)
            if check is not None:
                check(claim)
        move_claims(store, claims, to_state, role=role, note=note, display_id=display_id)
    return len(claims)


def verify(store: "Store", claim_ids: Iterable[str], note: str | None = None) -> int:
    """A supervisor confirms the claims as enumerated."""
    return _move(store, "verify", claim_ids, note=note)


def return_to_enumeration(store: "Store", claim_ids: Iterable[str],
                          reason: str) -> int:
    """Send claims back to be corrected (the only way to edit a claim in adjudication)."""
    require(bool(reason and reason.strip()), "Say why the claim goes back",
            table="adjudication_event", field="note")
    return _move(store, "return_claim", claim_ids, note=reason)


def open_public_display(store: "Store", settlement_id: str, starts_on: str,
                        ends_on: str, *, block: str | None = None,
                        place: str | None = None) -> PublicDisplay:
    """List every verified claim of the settlement (or one block) for the objection period."""
    start, end = _date(starts_on, "starts_on", "public_display"), _date(
        ends_on, "ends_on", "public_display")
    require(end >= start, "The display period ends before it starts",
            table="public_display", field="ends_on", value=ends_on)
    with store.transaction():
        _role(store, "open_public_display")
        store.settlements.get(settlement_id)
        where = ("t.adjudication_state = 'verified' AND t.end_lifespan_version IS NULL "
                 "AND u.settlement_id = ?")
        params: list = [settlement_id]
        if block is not None:
            where += " AND u.block = ?"
            params.append(block)
        ids = [r["id"] for r in store.db.query(
            f"SELECT t.id FROM social_tenure t JOIN spatial_unit u ON u.id = t.spatial_unit_id "
            f"WHERE {where} ORDER BY u.code, t.id", params)]
        if not ids:
            raise AdjudicationError(
                "There are no verified claims " + (f"in block {block} " if block else "")
                + "to display", table="social_tenure", field="adjudication_state")
        display = store.public_displays.add(PublicDisplay(
            settlement_id=settlement_id, block=block, starts_on=start.isoformat(),
            ends_on=end.isoformat(), place=place))
        _move(store, "open_public_display", ids, display_id=display.id,
              note=f"{start.isoformat()}..{end.isoformat()}")
    return display  # type: ignore[return-value]


def display_list(store: "Store", display_id: str) -> list[dict]:
    """The claims of one public display, as printed: parcel, holder, tenure, share."""
    return store.db.query(
        "SELECT u.code AS parcel_code, u.block, u.area_m2, t.id AS claim_id, t.tenure_type, "
        "t.share_numerator, t.share_denominator, t.adjudication_state, "
        "p.party_type, p.first_name, p.last_name, p.group_name "
        "FROM social_tenure t JOIN spatial_unit u ON u.id = t.spatial_unit_id "
        "JOIN party p ON p.id = t.party_id "
        "WHERE t.public_display_id = ? AND t.end_lifespan_version IS NULL "
        "ORDER BY u.code, p.last_name, p.first_name", (display_id,))


def approve(store: "Store", claim_ids: Iterable[str], *,
            today: str | None = None, note: str | None = None) -> int:
    """A land officer approves claims whose display period is over, with no open objection."""
    day = _date(today, "today", "public_display") if today else dt.date.today()

    def check(claim: SocialTenure) -> None:
        display = store.public_displays.get(claim.public_display_id)  # type: ignore[arg-type]
        if day <= _date(display.ends_on, "ends_on", "public_display"):
            raise AdjudicationError(
                f"Claim {claim.id} is on public display until {display.ends_on}; it can be "
                "approved after the objection period", table="social_tenure",
                field="adjudication_state", record_id=claim.id)
        refuse_open_objections(store, [claim.id])

    return _move(store, "approve", claim_ids, note=note, check=check)


def open_objections(store: "Store", claim_ids: Sequence[str]) -> list[Objection]:
    if not claim_ids:
        return []
    return store.objections.find(  # type: ignore[return-value]
        f"status = 'open' AND social_tenure_id IN {store.db.json_list_sql}",
        (json_list(claim_ids),))


def refuse_open_objections(store: "Store", claim_ids: Sequence[str]) -> None:
    found = open_objections(store, claim_ids)
    if found:
        first = found[0]
        raise AdjudicationError(
            f"Claim {first.social_tenure_id} has an open objection by {first.objector_name} "
            f"(raised {first.raised_on}); resolve it first", table="objection",
            field="status", value="open", record_id=first.id)


def record_objection(store: "Store", claim_id: str, objector_name: str,
                     grounds: str, *, raised_on: str | None = None,
                     objector_contact: str | None = None) -> Objection:
    """Anyone working in the store writes down an objection brought against a claim."""
    day = _date(raised_on, "raised_on", "objection") if raised_on else dt.date.today()
    require(bool(objector_name and objector_name.strip()), "Who objects?",
            table="objection", field="objector_name")
    require(bool(grounds and grounds.strip()), "What is the objection?",
            table="objection", field="grounds")
    with store.transaction():
        _role(store, "record_objection")
        [claim] = _claims(store, [claim_id])
        if claim.adjudication_state == "issued":
            raise AdjudicationError(
                f"Claim {claim.id} already has a certificate; a dispute about it is a case "
                "for revoking or superseding the certificate", table="objection",
                field="social_tenure_id", record_id=claim.id)
        return store.objections.add(Objection(  # type: ignore[return-value]
            social_tenure_id=claim.id, objector_name=objector_name.strip(),
            objector_contact=objector_contact, grounds=grounds.strip(),
            raised_on=day.isoformat()))


def resolve_objection(store: "Store", objection_id: str, outcome: str,
                      resolution: str) -> Objection:
    """A land officer closes an objection. An upheld one sends its claim back."""
    from ..store.store import utc_now

    require(outcome in OBJECTION_OUTCOMES,
            f"The outcome must be one of {', '.join(OBJECTION_OUTCOMES)}",
            table="objection", field="status", value=outcome)
    require(bool(resolution and resolution.strip()), "Say how the objection was resolved",
            table="objection", field="resolution")
    with store.transaction():
        _role(store, "resolve_objection")
        objection = store.objections.get(objection_id)
        if objection.status != "open":
            raise AdjudicationError(f"The objection is already {objection.status}",
                                    table="objection", field="status", value=objection.status,
                                    record_id=objection_id)
        updated = store.objections.update(
            objection_id, expected_version=objection.row_version, status=outcome,
            resolution=resolution.strip(), resolved_at=utc_now(), resolved_by=store.actor)
        if outcome == "upheld":
            [claim] = _claims(store, [objection.social_tenure_id])  # type: ignore[list-item]
            if claim.adjudication_state != "enumerated":
                move_claims(store, [claim], "enumerated", role=store.user.role,
                            note=f"objection upheld: {resolution.strip()}")
    return updated  # type: ignore[return-value]


def claim_events(store: "Store", claim_id: str) -> list[dict]:
    """The adjudication history of one claim, oldest first."""
    return store.db.query(
        "SELECT from_state, to_state, changed_at, changed_by, role, note "
        "FROM adjudication_event WHERE social_tenure_id = ? ORDER BY id", (claim_id,))
