"""Social tenure: which party holds what right over which spatial unit, for what share."""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from ..store.errors import MissingReferenceError, ShareExceededError
from ..store.model import SocialTenure
from ..store.records import RecordRepository, json_list, require
from .parties import parse_iso_date

#: the largest share denominator: a billionth is finer than any real share, and the
#: terms must fit the databases' 64-bit integers
MAX_DENOMINATOR = 10**9


class TenureRepository(RecordRepository):
    table = "social_tenure"
    record_class = SocialTenure
    computed_columns = ("adjudication_state", "public_display_id")

    def _stamp_new(self, record: SocialTenure, now: str) -> None:  # type: ignore[override]
        super()._stamp_new(record, now)
        record.adjudication_state = "enumerated"  # a new claim starts adjudication
        record.public_display_id = None

    def validate(self, record: SocialTenure) -> None:
        table, rid = self.table, record.id
        self.store.lookups.check(table, "tenure_type", record.tenure_type, record_id=rid,
                                 required=True)
        n, d = record.share_numerator, record.share_denominator
        require(isinstance(n, int) and isinstance(d, int) and 0 < n <= d <= MAX_DENOMINATOR,
                f"The share must be a fraction between 0 and 1 whose denominator is at most "
                f"1,000,000,000 (numerator {n!r}, denominator {d!r})", table=table,
                field="share_numerator", value=f"{n}/{d}", record_id=rid)
        parse_iso_date(record.start_date, table=table, field="start_date", record_id=rid)

    def _prepare_batch(self, records: list[SocialTenure]) -> None:  # type: ignore[override]
        for record in records:
            self.validate(record)
        self._check_references(records)
        self._check_shares(records)

    def _check_references(self, records: list[SocialTenure]) -> None:
        for field, repo in (("party_id", self.store.parties),
                            ("spatial_unit_id", self.store.spatial_units)):
            missing = repo.missing_ids(getattr(r, field) for r in records)
            for record in records:
                value = getattr(record, field)
                if not value or value in missing:
                    raise MissingReferenceError(
                        f"Tenure record points at {repo.table} {value!r}, which does not exist "
                        "(or has been retired)", table=self.table, field=field, value=value,
                        record_id=record.id)

    def _check_shares(self, records: list[SocialTenure]) -> None:
        """Shares held on one spatial unit, counted exactly, never add up to more than 1."""
        units = sorted({r.spatial_unit_id for r in records})
        self.db.lock_rows("spatial_unit", units)  # another user's claim waits for ours
        batch_ids = [r.id for r in records if r.id]
        totals: dict[str, Fraction] = defaultdict(Fraction)
        for row in self.db.query(
                "SELECT spatial_unit_id, share_numerator, share_denominator FROM social_tenure "
                "WHERE end_lifespan_version IS NULL "
                f"AND spatial_unit_id IN {self.db.json_list_sql} "
                f"AND id NOT IN {self.db.json_list_sql}",
                (json_list(units), json_list(batch_ids))):
            totals[row["spatial_unit_id"]] += Fraction(row["share_numerator"],
                                                       row["share_denominator"])
        for record in records:
            totals[record.spatial_unit_id] += record.share  # type: ignore[index]
            total = totals[record.spatial_unit_id]  # type: ignore[index]
            if total > 1:
                raise ShareExceededError(
                    f"The shares on spatial unit {record.spatial_unit_id} would add up to "
                    f"{total} (more than 1) with this record's share {record.share}",
                    table=self.table, field="share_numerator", value=str(record.share),
                    record_id=record.id)

    def on_spatial_unit(self, spatial_unit_id: str) -> list[SocialTenure]:
        return self.find("spatial_unit_id = ?", (spatial_unit_id,))  # type: ignore[return-value]

    def of_party(self, party_id: str) -> list[SocialTenure]:
        return self.find("party_id = ?", (party_id,))  # type: ignore[return-value]

    def share_total(self, spatial_unit_id: str) -> Fraction:
        return sum((t.share for t in self.on_spatial_unit(spatial_unit_id)), Fraction(0))

