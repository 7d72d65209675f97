"""Parcel split and merge that keep lineage (issue #6, point 4).

Nothing is deleted: the parent parcels are retired (end of lifespan), the
new parcels get new codes, and the append-only ``spatial_unit_lineage``
register says which parcel came from which. Tenure claims follow the land
only when the user confirmed it, so a redrawn boundary never moves anyone's
rights silently. Planning only reads, so that the GUI can show the pieces,
the claims and every refusal before asking; applying plans again inside its
one transaction and refuses if anything changed since the plan was shown.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Sequence

from ..store.crs import area_calculator
from ..store.errors import ShareExceededError, ValidationError
from ..store.model import (
    ClaimMove,
    Lineage,
    LineageLink,
    LineageResult,
    MergePlan,
    Party,
    SpatialUnit,
    SplitPlan,
)
from ..store.records import json_list
from ..store.users import require_permission

if TYPE_CHECKING:
    from ..settlement_store import SettlementStore

#: pieces smaller than this (square metres, on the ellipsoid) are slivers, not parcels
MIN_PIECE_AREA_M2 = 1.0
#: the pieces of a split cover their parent up to this share of its area (float noise)
AREA_TOLERANCE = 1e-6
SPLIT_TENURE = ("copy", "none")
MERGE_TENURE = ("carry", "none")
# what a refusal is about (Refusal.kind), so the GUI and tests need not parse sentences
RETIRED, NOT_A_PARCEL, CLAIMS_LOCKED = "retired", "not_a_parcel", "claims_locked"
CERTIFIED, NO_SPLIT, SLIVER = "valid_certificate", "no_split", "sliver"
TOO_FEW, SETTLEMENTS, NOT_ONE_POLYGON = "too_few_parcels", "different_settlements", \
    "not_one_polygon"
SHARES, NOT_CONFIRMED, CHANGED = "shares_exceeded", "not_confirmed", "changed_since_plan"


@dataclass(frozen=True)
class Refusal:
    kind: str
    message: str


class LineageRefusedError(ValidationError):
    """A split or merge that cannot be done now; nothing was written.

    ``reasons`` holds every reason found, each with its ``kind``.
    """

    def __init__(self, reasons: Sequence[Refusal], record_id: str | None = None) -> None:
        super().__init__(" ".join(r.message for r in reasons), table="spatial_unit",
                         field="boundary", value=[r.kind for r in reasons], record_id=record_id)
        self.reasons = list(reasons)

    @property
    def kinds(self) -> list[str]:
        return [r.kind for r in self.reasons]


# --- planning ---------------------------------------------------------------------------------
def plan_split(store: "SettlementStore", parcel_id: str, cut_line: Any, *,
               min_area_m2: float = MIN_PIECE_AREA_M2) -> SplitPlan:
    """The pieces of ``parcel_id`` cut along ``cut_line`` (a line in the store's CRS).

    Refused (LineageRefusedError, every reason at once) for a retired parcel,
    claims locked in adjudication, a valid certificate, a line that does not
    cut the parcel in two or more pieces, and slivers under ``min_area_m2``.
    """
    [parent] = _parents(store, [parcel_id])
    claims = _claims_of(store, [parcel_id])
    reasons = _parent_refusals(store, [parent], claims)
    pieces, areas = [], []
    if parent.is_current and parent.kind == "parcel":
        pieces, areas, more = _pieces(store, parent, cut_line, min_area_m2)
        reasons += more
    if reasons:
        raise LineageRefusedError(reasons, record_id=parcel_id)
    structures = tuple((s.id, _piece_of(s, pieces)) for s in _structures_on(store, [parcel_id]))
    return SplitPlan(parcel_id, parent.code, parent.row_version, cut_line, tuple(pieces),
                     tuple(areas), tuple(claims), structures, min_area_m2)  # type: ignore[arg-type]


def plan_merge(store: "SettlementStore", parcel_ids: Sequence[str]) -> MergePlan:
    """The parcel that merging ``parcel_ids`` (current, one settlement, one polygon) makes.

    The first parcel named gives the merged one its land use, block and address.
    """
    ids = list(dict.fromkeys(parcel_ids))
    parents = _parents(store, ids)
    claims = _claims_of(store, ids)
    reasons = _parent_refusals(store, parents, claims)
    if len(ids) < 2:
        reasons.append(Refusal(TOO_FEW, "Choose at least two parcels to merge."))
    settlements = {p.settlement_id for p in parents}
    if len(settlements) > 1:
        reasons.append(Refusal(SETTLEMENTS, "Parcels of different settlements cannot be "
                               f"merged ({', '.join(p.code for p in parents)})."))
    merged = _union([p.boundary for p in parents])
    if len(ids) >= 2 and merged.geom_type != "Polygon":
        reasons.append(Refusal(NOT_ONE_POLYGON, f"{_codes(parents)} do not make one polygon: "
                               "parcels to merge must share an edge or overlap."))
    if reasons:
        raise LineageRefusedError(reasons, record_id=ids[0] if ids else None)
    carried = _carried(claims, ids)
    area = area_calculator(store.srid).area_m2(merged)
    structures = tuple(s.id for s in _structures_on(store, ids))
    return MergePlan(tuple(ids), tuple(p.code for p in parents),  # type: ignore[arg-type]
                     tuple(p.row_version for p in parents), merged,  # type: ignore[arg-type]
                     round(area, 2), tuple(claims), tuple(carried),
                     tuple(_share_problems(carried)), structures)


# --- applying ---------------------------------------------------------------------------------
def apply_split(store: "SettlementStore", plan: SplitPlan, *, tenure: str = "copy",
                confirmed: bool = False, note: str | None = None) -> LineageResult:
    """Split as planned, in one transaction: pieces added, parent retired, lineage written.

    With ``tenure="copy"`` every claim of the parent is ended and made again on
    each piece; with ``"none"`` the claims end with the parent. Either way a
    parcel with claims needs ``confirmed=True`` (the user saw the list).
    """
    _check_choice(tenure, SPLIT_TENURE)
    require_permission(store, "enumerate")
    with store.transaction():
        store.db.lock_rows("spatial_unit", [plan.parcel_id])
        fresh = plan_split(store, plan.parcel_id, plan.cut_line, min_area_m2=plan.min_area_m2)
        _refuse_if_changed([plan.row_version], [fresh.row_version], plan.claims, fresh.claims,
                           plan.parcel_id)
        _refuse_unconfirmed(f"Splitting {fresh.parcel_code}", fresh.claims, tenure == "copy",
                            f"each of the {len(fresh.pieces)} new parcels", confirmed)
        parent = store.spatial_units.get(plan.parcel_id)
        children = store.spatial_units.add_many(
            [_child_of(parent, piece, f"split from {parent.code}") for piece in fresh.pieces])
        relinked = {sid: children[i].id for sid, i in fresh.structures}
        targets = [c.id for c in children] if tenure == "copy" else []
        return _finish(store, "split", [parent.id], children, fresh.claims, fresh.claims,
                       targets, relinked, note)  # type: ignore[list-item]


def apply_merge(store: "SettlementStore", plan: MergePlan, *, tenure: str = "carry",
                confirmed: bool = False, note: str | None = None) -> LineageResult:
    """Merge as planned, in one transaction: the merged parcel added, parents retired.

    With ``tenure="carry"`` the claims of every parent are made again on the
    merged parcel (refused, naming the parties, if their shares would add up to
    more than 1); with ``"none"`` they end with the parents.
    """
    _check_choice(tenure, MERGE_TENURE)
    require_permission(store, "enumerate")
    with store.transaction():
        store.db.lock_rows("spatial_unit", sorted(plan.parcel_ids))
        fresh = plan_merge(store, plan.parcel_ids)
        _refuse_if_changed(plan.row_versions, fresh.row_versions, plan.claims, fresh.claims,
                           plan.parcel_ids[0])
        if tenure == "carry" and fresh.share_problems:
            raise LineageRefusedError([Refusal(SHARES, " ".join(fresh.share_problems))],
                                      record_id=plan.parcel_ids[0])
        _refuse_unconfirmed(f"Merging {', '.join(fresh.parcel_codes)}", fresh.claims,
                            tenure == "carry", "the merged parcel", confirmed)
        first = store.spatial_units.get(plan.parcel_ids[0])
        [child] = store.spatial_units.add_many([_child_of(
            first, fresh.merged, "merged from " + ", ".join(fresh.parcel_codes))])
        relinked = {sid: child.id for sid in fresh.structures}
        targets = [child.id] if tenure == "carry" else []
        try:
            return _finish(store, "merge", list(fresh.parcel_ids), [child], fresh.claims,
                           fresh.carried, targets, relinked, note)  # type: ignore[list-item]
        except ShareExceededError as error:  # the database rule, if our count missed
            raise LineageRefusedError([Refusal(SHARES, f"{error} Adjust the shares on the "
                                               "parcels first.")]) from error


def _finish(store: "SettlementStore", operation: str, parent_ids: list[str],
            children: list[SpatialUnit], ended: Sequence[ClaimMove],
            carried: Sequence[ClaimMove], targets: list[str], relinked: dict[str, str],
            note: str | None) -> LineageResult:
    """The writes a split and a merge share; the caller holds the transaction."""
    from ..store.store import utc_now

    for structure_id, parcel_id in relinked.items():
        store.spatial_units.update(structure_id, parcel_id=parcel_id)
    old = {c.id: c for c in store.tenure.find(  # type: ignore[union-attr]
        f"id IN {store.db.json_list_sql}", (json_list([m.claim_id for m in ended]),))}
    for move in ended:
        store.tenure.retire(move.claim_id)
    new_claims = store.tenure.add_many([
        dataclasses.replace(old[m.claim_id], id=None, spatial_unit_id=target)
        for target in targets for m in carried]) if targets else []
    for parent_id in parent_ids:
        store.spatial_units.retire(parent_id)
    now = utc_now()
    store.db.executemany(
        "INSERT INTO spatial_unit_lineage (parent_id, child_id, operation, happened_at, "
        "happened_by, note) VALUES (?, ?, ?, ?, ?, ?)",
        [(p, c.id, operation, now, store.actor, note) for p in parent_ids for c in children])
    return LineageResult(operation, parent_ids, children, [m.claim_id for m in ended],
                         new_claims, relinked)  # type: ignore[arg-type]


# --- history ----------------------------------------------------------------------------------
def lineage_of(store: "SettlementStore", parcel_id: str) -> Lineage:
    """Every ancestor and every descendant of a parcel, walking the register both ways."""
    return Lineage(parcel_id, _walk(store, parcel_id, up=True), _walk(store, parcel_id, up=False))


def _walk(store: "SettlementStore", start: str, *, up: bool) -> list[LineageLink]:
    near, far = ("child_id", "parent_id") if up else ("parent_id", "child_id")
    links: list[LineageLink] = []
    seen, frontier, generation = {start}, [start], 1
    while frontier:
        rows = store.db.query(
            "SELECT l.parent_id, l.child_id, l.operation, l.happened_at, l.happened_by, l.note, "
            "p.code AS parent_code, c.code AS child_code FROM spatial_unit_lineage l "
            "JOIN spatial_unit p ON p.id = l.parent_id JOIN spatial_unit c ON c.id = l.child_id "
            f"WHERE l.{near} IN {store.db.json_list_sql} ORDER BY l.id", (json_list(frontier),))
        frontier = []
        for row in rows:
            links.append(LineageLink(**row, generation=generation))
            if row[far] not in seen:
                seen.add(row[far])
                frontier.append(row[far])
        generation += 1
    return links


# --- reading and checking ---------------------------------------------------------------------
def _parents(store: "SettlementStore", ids: Sequence[str]) -> list[SpatialUnit]:
    return [store.spatial_units.get(i, include_retired=True) for i in ids]  # type: ignore[misc]


def _claims_of(store: "SettlementStore", parcel_ids: Sequence[str]) -> list[ClaimMove]:
    rows = store.db.query(
        "SELECT t.id, t.spatial_unit_id, u.code, t.party_id, p.party_type, p.first_name, "
        "p.last_name, p.group_name, t.tenure_type, t.share_numerator, t.share_denominator, "
        "t.adjudication_state FROM social_tenure t "
        "JOIN spatial_unit u ON u.id = t.spatial_unit_id JOIN party p ON p.id = t.party_id "
        f"WHERE t.end_lifespan_version IS NULL AND t.spatial_unit_id IN {store.db.json_list_sql} "
        "ORDER BY u.code, t.created_at, t.id", (json_list(parcel_ids),))
    return [ClaimMove(
        r["id"], r["spatial_unit_id"], r["code"], r["party_id"],
        Party(party_type=r["party_type"], first_name=r["first_name"], last_name=r["last_name"],
              group_name=r["group_name"]).display_name or r["party_id"],
        r["tenure_type"], Fraction(r["share_numerator"], r["share_denominator"]),
        r["adjudication_state"]) for r in rows]


def _parent_refusals(store: "SettlementStore", parents: list[SpatialUnit],
                     claims: list[ClaimMove]) -> list[Refusal]:
    reasons = []
    for parent in parents:
        if not parent.is_current:
            reasons.append(Refusal(RETIRED, f"{parent.code} was retired on "
                                   f"{parent.end_lifespan_version}; only a current parcel can "
                                   "be split or merged."))
        elif parent.kind != "parcel":
            reasons.append(Refusal(NOT_A_PARCEL, f"{parent.code} is a {parent.kind}, not a "
                                   "parcel."))
        valid = [c.number for c in store.certificates.of_parcel(parent.id)  # type: ignore[arg-type]
                 if c.status == "valid"]
        if valid:
            reasons.append(Refusal(CERTIFIED, f"{parent.code} has the valid certificate "
                                   f"{', '.join(valid)}, which freezes its boundary: revoke or "
                                   "supersede it first."))
    locked = [c for c in claims if c.adjudication_state != "enumerated"]
    if locked:
        listed = "; ".join(f"{c.describe()}, {c.adjudication_state.replace('_', ' ')}"
                           for c in locked)
        reasons.append(Refusal(CLAIMS_LOCKED, f"These claims are in adjudication and locked: "
                               f"{listed}. Return them to enumeration first."))
    return reasons


def _pieces(store: "SettlementStore", parent: SpatialUnit, cut_line: Any,
            min_area_m2: float) -> tuple[list[Any], list[float], list[Refusal]]:
    from shapely.ops import split

    code = parent.code
    if getattr(cut_line, "geom_type", None) not in ("LineString", "MultiLineString") \
            or cut_line.is_empty or not cut_line.is_valid:
        return [], [], [Refusal(NO_SPLIT, f"The cut line for {code} must be a valid line.")]
    parts = list(getattr(parent.boundary, "geoms", [parent.boundary]))
    pieces = sorted((g for g in split(parent.boundary, cut_line).geoms
                     if g.geom_type == "Polygon" and not g.is_empty),
                    key=lambda g: (round(g.centroid.x, 6), round(g.centroid.y, 6)))
    if len(pieces) < 2 or len(pieces) <= len(parts):
        return [], [], [Refusal(NO_SPLIT, f"The cut line does not cross {code} from side to "
                                "side: it must cut the parcel into two or more pieces.")]
    reasons = []
    if any(not p.is_valid for p in pieces) or abs(sum(p.area for p in pieces)
                                                  - parent.boundary.area) \
            > AREA_TOLERANCE * parent.boundary.area:
        reasons.append(Refusal(NO_SPLIT, f"The pieces of {code} along this line are not valid "
                               "polygons covering the parcel; draw the cut line again."))
    areas = [round(a, 2) for a in area_calculator(store.srid).areas_m2(pieces)]
    small = [a for a in areas if a < min_area_m2]
    if small:
        reasons.append(Refusal(SLIVER, f"Cutting {code} there leaves {len(small)} sliver(s) of "
                               f"{', '.join(f'{a:g}' for a in small)} m², under the minimum of "
                               f"{min_area_m2:g} m²; move the cut line."))
    return pieces, areas, reasons


def _union(boundaries: list[Any]) -> Any:
    from shapely.ops import unary_union

    return unary_union([b for b in boundaries if b is not None])


def _codes(parents: list[SpatialUnit]) -> str:
    return ", ".join(p.code or "?" for p in parents)


def _structures_on(store: "SettlementStore", parcel_ids: Sequence[str]) -> list[SpatialUnit]:
    return store.spatial_units.find(  # type: ignore[return-value]
        f"kind = 'structure' AND parcel_id IN {store.db.json_list_sql}",
        (json_list(parcel_ids),), order_by="code")


def _piece_of(structure: SpatialUnit, pieces: list[Any]) -> int:
    """The piece holding most of the structure's footprint (or its point, or nearest it)."""
    if structure.boundary is not None:
        overlaps = [structure.boundary.intersection(p).area for p in pieces]
        if max(overlaps) > 0:
            return overlaps.index(max(overlaps))
    where = structure.location if structure.location is not None \
        else structure.boundary.representative_point()
    distances = [p.distance(where) for p in pieces]
    return distances.index(min(distances))


def _carried(claims: list[ClaimMove], parcel_ids: list[str]) -> list[ClaimMove]:
    """The claims a merge makes again; one held alike on every parent is carried once."""
    held_on: dict[tuple, set[str]] = defaultdict(set)
    for c in claims:
        held_on[(c.party_id, c.tenure_type, c.share)].add(c.parcel_id)
    carried, done = [], set()
    for c in claims:
        key = (c.party_id, c.tenure_type, c.share)
        if held_on[key] == set(parcel_ids):
            if key in done:
                continue
            done.add(key)
        carried.append(c)
    return carried


def _share_problems(carried: list[ClaimMove]) -> list[str]:
    total = sum((c.share for c in carried), Fraction(0))
    if total <= 1:
        return []
    per_party: dict[str, Fraction] = defaultdict(Fraction)
    names = {}
    for c in carried:
        per_party[c.party_id] += c.share
        names[c.party_id] = c.party_name
    over = [f"{names[p]} would hold {s}" for p, s in per_party.items() if s > 1]
    return [f"The shares on the merged parcel would add up to {total}, more than 1: "
            + "; ".join(c.describe() for c in carried) + "."
            + (f" On their own, {', '.join(over)}." if over else "")
            + " Adjust the shares on the parcels first (or merge without carrying the "
            "claims)."]


def _refuse_if_changed(planned_versions: Sequence[int], versions: Sequence[int],
                       planned: Sequence[ClaimMove], claims: Sequence[ClaimMove],
                       record_id: str) -> None:
    if tuple(planned_versions) != tuple(versions) or tuple(planned) != tuple(claims):
        raise LineageRefusedError([Refusal(CHANGED, "The parcels or their claims changed since "
                                           "the plan was made; plan again and confirm.")],
                                  record_id=record_id)


def _refuse_unconfirmed(what: str, claims: Sequence[ClaimMove], follow: bool, where: str,
                        confirmed: bool) -> None:
    if confirmed or not claims:
        return
    fate = (f"moves these claims onto {where}" if follow
            else "ends these claims without making them again")
    raise LineageRefusedError([Refusal(
        NOT_CONFIRMED, f"{what} {fate}: " + "; ".join(c.describe() for c in claims)
        + ". Confirm to go on.")], record_id=claims[0].parcel_id)


def _check_choice(tenure: str, choices: tuple[str, ...]) -> None:
    if tenure not in choices:
        raise ValidationError(f"tenure must be {' or '.join(choices)}, not {tenure!r}",
                              table="social_tenure", field="tenure", value=tenure)


def _child_of(parent: SpatialUnit, boundary: Any, remarks: str) -> SpatialUnit:
    """A new parcel in the parent's settlement, with its land use, block and address."""
    return SpatialUnit(kind="parcel", settlement_id=parent.settlement_id,
                       land_use=parent.land_use, block=parent.block, address=parent.address,
                       remarks=remarks, boundary=boundary)
