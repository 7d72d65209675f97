"""The STDM records as plain dataclasses (ISO 19152 LADM core classes).

Party (LA_Party), SpatialUnit (LA_SpatialUnit: parcels and structures),
SocialTenure (the LA_RRR relationship between them) and
SupportingDocument (LA_Source). Geometries are shapely objects in the
store's CRS.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Optional

RECORD_FIELDS = ("created_at", "created_by", "updated_at", "updated_by",
                 "begin_lifespan_version", "end_lifespan_version", "row_version")


@dataclass
class Record:
    id: Optional[str] = None
    created_at: Optional[str] = field(default=None, compare=False)
    created_by: Optional[str] = field(default=None, compare=False)
    updated_at: Optional[str] = field(default=None, compare=False)
    updated_by: Optional[str] = field(default=None, compare=False)
    begin_lifespan_version: Optional[str] = field(default=None, compare=False)
    end_lifespan_version: Optional[str] = field(default=None, compare=False)
    row_version: Optional[int] = field(default=None, compare=False)

    @classmethod
    def data_fields(cls) -> list[str]:
        """The fields a user sets (everything but id and the record keeping)."""
        return [f.name for f in dataclasses.fields(cls)
                if f.name != "id" and f.name not in RECORD_FIELDS]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})

    @property
    def is_current(self) -> bool:
        return self.end_lifespan_version is None


@dataclass
class Settlement(Record):
    code: str = ""
    name: str = ""
    boundary: Any = None


@dataclass
class Party(Record):
    party_type: str = "person"
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    group_name: Optional[str] = None
    sex: Optional[str] = None
    date_of_birth: Optional[str] = None
    age_years: Optional[int] = None
    id_document_type: Optional[str] = None
    id_document_number: Optional[str] = None
    phone: Optional[str] = None
    household_role: Optional[str] = None
    group_party_id: Optional[str] = None
    remarks: Optional[str] = None
    #: 1 when the source carried no names (an anonymised survey export)
    anonymised: int = 0
    #: 1 for a household enumerated without any parcel or structure yet
    needs_mapping: int = 0
    submission_id: Optional[str] = None
    answers: Optional[str] = None  # JSON of the submission's answers no field took

    @property
    def display_name(self) -> str:
        if self.party_type != "person":
            return self.group_name or ""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass
class SpatialUnit(Record):
    kind: str = "parcel"
    settlement_id: Optional[str] = None
    land_use: Optional[str] = None
    parcel_id: Optional[str] = None
    address: Optional[str] = None
    remarks: Optional[str] = None
    boundary: Any = None
    location: Any = None
    submission_id: Optional[str] = None
    answers: Optional[str] = None
    #: the block (îlot) of the settlement, for public display lists and batches
    block: Optional[str] = None
    # computed by the store
    seq: Optional[int] = field(default=None, compare=False)
    code: Optional[str] = field(default=None, compare=False)
    area_m2: Optional[float] = field(default=None, compare=False)


@dataclass
class SocialTenure(Record):
    party_id: Optional[str] = None
    spatial_unit_id: Optional[str] = None
    tenure_type: Optional[str] = None
    share_numerator: int = 1
    share_denominator: int = 1
    start_date: Optional[str] = None
    evidence: Optional[str] = None
    remarks: Optional[str] = None
    submission_id: Optional[str] = None
    answers: Optional[str] = None
    # moved only by adjudication (core/adjudication/adjudication.py), never by an edit
    adjudication_state: str = field(default="enumerated", compare=False)
    public_display_id: Optional[str] = field(default=None, compare=False)

    @property
    def share(self) -> Fraction:
        return Fraction(self.share_numerator, self.share_denominator)


@dataclass
class SupportingDocument(Record):
    party_id: Optional[str] = None
    spatial_unit_id: Optional[str] = None
    social_tenure_id: Optional[str] = None
    document_type: str = "other"
    file_name: str = ""
    mime_type: str = ""
    sha256: str = ""
    size_bytes: int = 0
    storage: str = "embedded"
    relative_path: Optional[str] = None
    submission_id: Optional[str] = None
    answers: Optional[str] = None
    content: Optional[bytes] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class LineageLink:
    """One row of the parcel lineage register: ``child`` came from ``parent``.

    A split writes one link from the retired parcel to each new piece; a
    merge one link from each retired parcel to the merged one. The codes
    are read with the link so that a history can be shown without lookups.
    """

    parent_id: str
    child_id: str
    operation: str  #: "split" or "merge"
    happened_at: str
    happened_by: str
    note: Optional[str] = None
    parent_code: Optional[str] = None
    child_code: Optional[str] = None
    #: 1 for a direct parent or child, 2 for a grandparent or grandchild...
    generation: int = 1


# --- parcel split and merge (core/cadastre/parcel_lineage.py) ------------------------------------
@dataclass(frozen=True)
class ClaimMove:
    """A current claim on a parent parcel, as the user is asked to confirm it."""

    claim_id: str
    parcel_id: str
    parcel_code: str
    party_id: str
    party_name: str
    tenure_type: str
    share: Fraction
    adjudication_state: str

    def describe(self) -> str:
        return f"{self.party_name} ({self.tenure_type}, share {self.share}) on {self.parcel_code}"


@dataclass(frozen=True)
class SplitPlan:
    """What splitting one parcel along a cut line will do."""

    parcel_id: str
    parcel_code: str
    row_version: int
    cut_line: Any
    #: the new parcels' polygons, west to east, then south to north
    pieces: tuple[Any, ...]
    piece_areas_m2: tuple[float, ...]
    #: the parent's current claims: with tenure "copy" each one is ended on the parent
    #: and made again, same party, type and share, on every piece
    claims: tuple[ClaimMove, ...]
    #: structure id -> index of the piece it will stand on
    structures: tuple[tuple[str, int], ...]
    min_area_m2: float


@dataclass(frozen=True)
class MergePlan:
    """What merging parcels into one will do."""

    parcel_ids: tuple[str, ...]
    parcel_codes: tuple[str, ...]
    row_versions: tuple[int, ...]
    merged: Any
    area_m2: float
    #: every current claim of every parent
    claims: tuple[ClaimMove, ...]
    #: the claims made again on the merged parcel with tenure "carry": a claim held
    #: alike (same party, type and share) on every parent is carried once
    carried: tuple[ClaimMove, ...]
    #: why the carried claims cannot all be held on one parcel (empty when they can)
    share_problems: tuple[str, ...]
    structures: tuple[str, ...]


@dataclass
class LineageResult:
    """What a split or merge wrote."""

    operation: str
    parent_ids: list[str]
    children: list[SpatialUnit]
    ended_claims: list[str]
    new_claims: list[SocialTenure]
    #: structure id -> the parcel it now stands on
    relinked_structures: dict[str, str]


@dataclass(frozen=True)
class Lineage:
    """Where a parcel came from and what became of it, nearest generation first."""

    parcel_id: str
    ancestors: list[LineageLink]
    descendants: list[LineageLink]
