"""The field mapping for the plugin's own form, derived from the form itself.

A form made by the plugin needs no hand-made mapping: each question says
its target field, so the columns an ODK Central or KoBoToolbox export
will have (group path + question name) and the records they become follow
from the definition. Declared once, imported without retyping.
"""
from __future__ import annotations

from ..forms.forms import CONTAINERS, EnumerationForm, Question, Section
from .mapping import (
    ColumnRule,
    FieldMapping,
    GeometryRule,
    MediaRule,
    RecordMapping,
    TableMapping,
)

#: ODK Central joins group names with "-", KoBoToolbox with "/"
SEPARATORS = {"odk_central": "-", "kobo": "/"}
GEOMETRY_FIELDS = {"geoshape": "boundary", "geotrace": "boundary", "geopoint": "location"}


def _leaves(questions: list[Question], prefix: str, sep: str):
    for question in questions:
        if question.type in CONTAINERS:
            yield from _leaves(question.questions, f"{prefix}{question.name}{sep}", sep)
        elif question.type not in ("note",):
            yield f"{prefix}{question.name}", question


def _fill(record: RecordMapping, section: Section, prefix: str, sep: str) -> None:
    for column, question in _leaves(section.questions, prefix, sep):
        if question.document_type:
            record.media.append(MediaRule(column=column, document_type=question.document_type,
                                          required=question.required))
        elif question.type in GEOMETRY_FIELDS and question.target_field:
            record.geometry.append(GeometryRule(column=column, kind=question.type,
                                                field=question.target_field,
                                                required=question.required))
        elif question.target_field:
            record.columns[column] = ColumnRule(field=question.target_field)


def mapping_from_form(form: EnumerationForm, settlement_code: str,
                      flavour: str = "odk_central") -> FieldMapping:
    """The mapping for exports of ``form``'s XLSForm, parcels going to ``settlement_code``."""
    sep = SEPARATORS[flavour]
    sections = {s.name: s for s in form.sections}
    main = TableMapping(name="main", file=f"{form.form_id}.csv", key_column="KEY",
                        ignored_columns=["meta-instanceID", "meta/instanceID", "start", "end",
                                         "instanceID"])
    parcel = RecordMapping(type="parcel", name="parcel",
                           constants={"settlement_code": settlement_code})
    _fill(parcel, sections["parcel"], f"parcel{sep}", sep)
    household = RecordMapping(type="household", name="household")
    _fill(household, sections["household"], f"household{sep}", sep)
    main.records = [household, parcel]
    members_section = next(s for s in form.sections if s.repeat)
    person = RecordMapping(type="person", name="person",
                           links={"group_party_id": "household"})
    _fill(person, members_section, "", sep)
    records = [person]
    for inner in (s for s in form.sections if s.within == members_section.name):
        claim = RecordMapping(type="tenure", name=inner.name,
                              links={"party_id": "person", "spatial_unit_id": "parcel"})
        _fill(claim, inner, f"{inner.name}{sep}", sep)
        choice = next(c for c, q in _leaves(inner.questions, f"{inner.name}{sep}", sep)
                      if q.target_field == "tenure_type")
        claim.only_if = choice
        records.append(claim)
    members = TableMapping(name=members_section.name,
                           file=f"{form.form_id}-{members_section.name}.csv",
                           key_column="KEY", parent="main", parent_key_column="PARENT_KEY",
                           records=records)
    return FieldMapping(form_id=form.form_id, main=main, repeats=[members],
                        submitted_at_column="SubmissionDate",
                        form_version_column="FormVersion",
                        description=f"Exports of the plugin's form {form.form_id}").check()
