"""Check and save one household's enumeration, as the wizard or an import hands it over.

The answers of one enumeration are a mapping by section name; a repeat
section holds a list of mappings, and a section answered ``within`` a
repeat sits inside each entry under its own name::

    {"parcel": {"parcel_boundary": <Polygon>, "land_use": "residential"},
     "household": {"household_name": "Famille Koné"},
     "members": [{"first_name": "Awa", ..., "tenure": {"tenure_type": "owner", ...}}]}

Everything is checked first (required, types, code lists, constraints,
relevance, shares on the parcel) and every problem is reported; only a
clean enumeration is saved, in one transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any, Callable, Iterable

from ..store.errors import ValidationError
from ..store.model import Party, SocialTenure, SpatialUnit
from . import expressions
from .forms import CONTAINERS, EnumerationForm, Question, Section

GEOMETRY_TYPES = {"geopoint": ("Point",), "geotrace": ("LineString",),
                  "geoshape": ("Polygon", "MultiPolygon")}
Answers = dict[str, Any]


@dataclass(frozen=True)
class AnswerProblem:
    section: str
    index: int | None  # entry of a repeat section (0-based), None otherwise
    question: str
    value: Any
    reason: str

    def where(self) -> str:
        entry = f"[{self.index + 1}]" if self.index is not None else ""
        return f"{self.section}{entry}.{self.question}"


class EnumerationError(ValidationError):
    """An enumeration that cannot be saved; ``problems`` lists every reason."""

    def __init__(self, problems: list[AnswerProblem]) -> None:
        super().__init__("; ".join(f"{p.where()}: {p.reason}" for p in problems[:10])
                         + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""))
        self.problems = problems


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0)


def _typed_problem(question: Question, value: Any, codes: Callable[[str], set[str]]) -> str | None:
    kind = question.type
    if kind == "integer":
        if isinstance(value, bool) or not _is_int(value):
            return f"{value!r} is not a whole number"
    elif kind == "decimal":
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a number"
    elif kind == "date":
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return f"{value!r} is not a date written YYYY-MM-DD"
    elif kind == "select_one":
        if str(value) not in codes(question.choices or ""):
            return (f"{value!r} is not in the {question.choices} list "
                    f"({', '.join(sorted(codes(question.choices or '')))})")
    elif kind == "select_multiple":
        chosen = value if isinstance(value, (list, tuple)) else str(value).split()
        unknown = [c for c in chosen if c not in codes(question.choices or "")]
        if unknown:
            return f"{', '.join(unknown)} not in the {question.choices} list"
    elif kind in GEOMETRY_TYPES:
        geometry_type = getattr(value, "geom_type", None)
        if geometry_type not in GEOMETRY_TYPES[kind]:
            return f"a {kind} is needed, not {geometry_type or type(value).__name__}"
        if kind == "geoshape" and not value.is_valid:
            from shapely.validation import explain_validity

            return f"the shape is not valid: {explain_validity(value)}"
    return None


def _is_int(value: Any) -> bool:
    try:
        return float(value) == int(float(value))
    except (TypeError, ValueError):
        return False


def _check_questions(questions: Iterable[Question], scope: Answers, own: Answers,
                     section: str, index: int | None, codes, problems: list) -> None:
    for question in questions:
        if question.type in CONTAINERS:
            _check_questions(question.questions, scope, own, section, index, codes, problems)
            continue
        if question.type in ("note", "calculate"):
            continue
        value = own.get(question.name)

        def problem(reason: str, question=question, value=value) -> None:
            problems.append(AnswerProblem(section, index, question.name, value, reason))

        if not expressions.holds(question.relevant, scope):
            if not is_empty(value):
                problem("answered although the question does not apply "
                        f"({question.relevant})")
            continue
        if is_empty(value):
            if question.required:
                problem("is required")
            continue
        reason = _typed_problem(question, value, codes)
        if reason:
            problem(reason)
        elif question.constraint and not expressions.holds(question.constraint, scope, value):
            message = question.constraint_message.get("en") or question.constraint
            problem(message)


def check_enumeration(form: EnumerationForm, answers: Answers,
                      codes: Callable[[str], set[str]],
                      existing_share: Fraction = Fraction(0)) -> list[AnswerProblem]:
    """Every problem with an enumeration; an empty list means it can be saved.

    ``existing_share`` is what current tenure already holds on a parcel picked
    on the map, so that claims passing 1 are caught before saving.
    """
    problems: list[AnswerProblem] = []
    nested = {s.within: s for s in form.sections if s.within}
    for section in form.sections:
        if section.within:
            continue
        entries = _entries(section, answers, problems)
        for index, own in entries:
            _check_questions(section.questions, own, own, section.name, index, codes, problems)
            inner = nested.get(section.name)
            if inner is not None:
                mine = own.get(inner.name) or {}
                scope = {**own, **mine}
                _check_questions(inner.questions, scope, mine, inner.name, index, codes,
                                 problems)
    problems.extend(_share_problems(form, answers, existing_share))
    return problems


def _entries(section: Section, answers: Answers, problems: list) -> list[tuple[int | None, dict]]:
    value = answers.get(section.name)
    if section.repeat:
        if not isinstance(value, list) or not value:
            problems.append(AnswerProblem(section.name, None, section.name, value,
                                          "at least one entry is needed"))
            return []
        return list(enumerate(value))
    return [(None, value if isinstance(value, dict) else {})]


def _share_problems(form: EnumerationForm, answers: Answers,
                    existing_share: Fraction) -> list[AnswerProblem]:
    """The claims on the parcel, added up exactly, may not pass 1."""
    claims = _claims(form, answers)
    total = Fraction(existing_share)
    for _, claim in claims:
        try:
            total += Fraction(*(int(float(_or_one(claim.get(key))))
                                for key in ("share_numerator", "share_denominator")))
        except (TypeError, ValueError, ZeroDivisionError):
            return []  # already reported as a typed problem
    if total > 1:
        held = (f" (with {existing_share} already held by others)" if existing_share
                else "")
        return [AnswerProblem("tenure", None, "share_numerator", str(total),
                              f"the shares claimed on the parcel add up to {total}, more "
                              f"than 1{held}")]
    return []


def _or_one(value: Any) -> Any:
    """An unanswered share part counts as the form's default, 1."""
    return 1 if is_empty(value) else value


def _claims(form: EnumerationForm, answers: Answers) -> list[tuple[int, dict]]:
    inner = next((s for s in form.sections if s.within), None)
    if inner is None:
        return []
    found = []
    for index, member in enumerate(answers.get(inner.within) or []):
        claim = (member or {}).get(inner.name) or {}
        if not is_empty(claim.get("tenure_type")):
            found.append((index, claim))
    return found


def _record_values(questions: Iterable[Question], own: Answers, scope: Answers) -> dict:
    values: dict[str, Any] = {}
    for question in questions:
        if question.type in CONTAINERS:
            values.update(_record_values(question.questions, own, scope))
        elif question.target_field and expressions.holds(question.relevant, scope):
            value = own.get(question.name)
            if not is_empty(value):
                if question.type == "integer":
                    value = int(float(value))
                values[question.target_field] = value
    return values


def _documents(questions: Iterable[Question], own: Answers) -> list[tuple[str, Any]]:
    found = []
    for question in questions:
        if question.type in CONTAINERS:
            found.extend(_documents(question.questions, own))
        elif question.document_type and not is_empty(own.get(question.name)):
            found.append((question.document_type, own[question.name]))
    return found


def save_enumeration(store, form: EnumerationForm, answers: Answers,
                     settlement_id: str, parcel_id: str | None = None) -> dict[str, Any]:
    """Check, then write the parcel, household, members, claims and photos at once.

    Photo answers are ``(file_name, bytes)`` pairs. With ``parcel_id`` the
    household is enumerated on a parcel already in the store (picked on the
    map) and the parcel section is not asked. Returns the records written.
    """
    existing = Fraction(0)
    if parcel_id is not None:
        answers = {**answers, "parcel": None}
        form = form.without("parcel")
        existing = store.tenure.share_total(parcel_id)
    problems = check_enumeration(form, answers, store.lookups.codes, existing)
    if problems:
        raise EnumerationError(problems)
    sections = {s.name: s for s in form.sections}
    with store.transaction():
        parcel_answers = answers.get("parcel") or {}
        if parcel_id is not None:
            parcel = store.spatial_units.get(parcel_id)
        else:
            parcel = store.spatial_units.add(SpatialUnit(
                kind="parcel", settlement_id=settlement_id,
                **_record_values(sections["parcel"].questions, parcel_answers,
                                 parcel_answers)))
        household_answers = answers.get("household") or {}
        household = store.parties.add(Party(
            party_type="household", **_record_values(sections["household"].questions,
                                                     household_answers, household_answers)))
        members, claims, documents = [], [], []
        tenure = sections.get("tenure")
        for member_answers in answers.get("members") or []:
            member = store.parties.add(Party(
                party_type="person", group_party_id=household.id,
                **_record_values(sections["members"].questions, member_answers,
                                 member_answers)))
            members.append(member)
            documents += [("party_id", member.id, d) for d in
                          _documents(sections["members"].questions, member_answers)]
            claim_answers = member_answers.get("tenure") or {}
            if tenure is not None and not is_empty(claim_answers.get("tenure_type")):
                scope = {**member_answers, **claim_answers}
                claim = store.tenure.add(SocialTenure(
                    party_id=member.id, spatial_unit_id=parcel.id,
                    **_record_values(tenure.questions, claim_answers, scope)))
                claims.append(claim)
                documents += [("social_tenure_id", claim.id, d)
                              for d in _documents(tenure.questions, claim_answers)]
        if "parcel" in sections:
            documents += [("spatial_unit_id", parcel.id, d)
                          for d in _documents(sections["parcel"].questions, parcel_answers)]
        for field, record_id, (document_type, (file_name, content)) in documents:
            store.documents.attach(content, file_name, document_type=document_type,
                                   **{field: record_id})
    return {"parcel": parcel, "household": household, "members": members, "claims": claims}
