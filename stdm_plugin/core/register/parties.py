"""Parties: persons, and the households or groups they belong to."""
from __future__ import annotations

from datetime import date, datetime, timezone

from ..store.errors import MissingReferenceError, ValidationError
from ..store.model import Party
from ..store.records import RecordRepository, json_list, refuse_while_current_tenure, require

PARTY_TYPES = ("person", "household", "group")
PERSON_ONLY = ("first_name", "last_name", "sex", "date_of_birth", "age_years", "household_role")


def parse_iso_date(value: str | None, *, table: str, field: str,
                   record_id: str | None) -> date | None:
    """Dates are ISO 8601 (YYYY-MM-DD) in the store; anything else is refused clearly."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            f"{table}.{field} must be a date written YYYY-MM-DD, not {value!r}",
            table=table, field=field, value=value, record_id=record_id) from None


class PartyRepository(RecordRepository):
    table = "party"
    record_class = Party

    def validate(self, record: Party) -> None:
        table, rid = self.table, record.id
        require(record.party_type in PARTY_TYPES,
                f"party_type must be one of {', '.join(PARTY_TYPES)}, not {record.party_type!r}",
                table=table, field="party_type", value=record.party_type, record_id=rid)
        for flag in ("anonymised", "needs_mapping"):
            require(getattr(record, flag) in (0, 1),
                    f"{flag} must be 0 or 1, not {getattr(record, flag)!r}", table=table,
                    field=flag, value=getattr(record, flag), record_id=rid)
        # An anonymised survey export has no names at all; saying so on the
        # record keeps the rule for everyone else instead of inventing names.
        nameless_ok = bool(record.anonymised)
        if record.party_type == "person":
            named = bool((record.first_name or "").strip() or (record.last_name or "").strip())
            require(nameless_ok or named,
                    "A person needs a first name or a last name (unless the party is "
                    "anonymised)", table=table, field="first_name", record_id=rid)
        else:
            require(nameless_ok or bool((record.group_name or "").strip()),
                    f"A {record.party_type} needs a name (group_name) unless it is anonymised",
                    table=table, field="group_name", record_id=rid)
            for name in PERSON_ONLY:
                require(getattr(record, name) in (None, ""),
                        f"{name} applies to persons, not to a {record.party_type}",
                        table=table, field=name, value=getattr(record, name), record_id=rid)
        born = parse_iso_date(record.date_of_birth, table=table, field="date_of_birth",
                              record_id=rid)
        today = datetime.now(timezone.utc).date()
        require(born is None or born <= today,
                f"party.date_of_birth {record.date_of_birth} is in the future",
                table=table, field="date_of_birth", value=record.date_of_birth, record_id=rid)
        if record.age_years is not None:
            require(isinstance(record.age_years, int) and 0 <= record.age_years <= 130,
                    f"age_years must be a whole number from 0 to 130, not {record.age_years!r}",
                    table=table, field="age_years", value=record.age_years, record_id=rid)
        lookups = self.store.lookups
        for field in ("sex", "id_document_type", "household_role"):
            lookups.check(table, field, getattr(record, field), record_id=rid)
        if record.id_document_number:
            require(record.id_document_type not in (None, "", "none"),
                    "An ID document number needs its document type", table=table,
                    field="id_document_type", record_id=rid)

    def _prepare_batch(self, records: list[Party]) -> None:  # type: ignore[override]
        for record in records:
            self.validate(record)
        groups_in_batch = {r.id for r in records if r.id and r.party_type != "person"}
        outside = {r.group_party_id for r in records if r.group_party_id} - groups_in_batch
        known_groups: set[str] = set()
        if outside:
            known_groups = {row["id"] for row in self.db.query(
                "SELECT id FROM party WHERE party_type <> 'person' AND end_lifespan_version "
                f"IS NULL AND id IN {self.db.json_list_sql}",
                (json_list(sorted(outside)),))}
        for record in records:
            gid = record.group_party_id
            if gid and gid not in groups_in_batch and gid not in known_groups:
                raise MissingReferenceError(
                    f"Party refers to household/group {gid!r}, which does not exist",
                    table=self.table, field="group_party_id", value=gid, record_id=record.id)
            if gid and gid == record.id:
                raise ValidationError("A group cannot be a member of itself", table=self.table,
                                      field="group_party_id", value=gid, record_id=record.id)

    def members(self, group_id: str) -> list[Party]:
        return self.find("group_party_id = ?", (group_id,))  # type: ignore[return-value]

    def _before_retire(self, record_id: str) -> None:
        refuse_while_current_tenure(self, "party_id", record_id)
