"""The layers' attribute forms configured from the enumeration form definitions.

The questions of ``forms/*.yaml`` name their target field, so the same
label, constraint, "required when relevant" rule and default reach a
feature edited with QGIS's own tools, or in QField offline, as reach the
wizard and the phones. A rule that QGIS cannot evaluate in the same way
(an answer of another record, a function without a counterpart) is left
out and listed, never approximated.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsDefaultValue,
    QgsExpression,
    QgsFieldConstraints,
    QgsMessageLog,
    QgsVectorLayer,
)

from ...core.forms import expressions
from ...core.forms.enumeration import GEOMETRY_TYPES
from ...core.forms.forms import EnumerationForm, FormDefinitionError, Question, Section, load_form
from ..i18n import tr
from .expressions import FieldScope, UntranslatableError, as_text, column, translate

#: the layer that shows the records a section's answers become
SECTION_LAYERS = {"party": "parties", "spatial_unit": "parcels", "social_tenure": "tenure"}
#: the party type the core's save_enumeration gives each party section's records
PARTY_TYPES = {"household": "household", "members": "person"}
FORM_FILE = "enumeration.yaml"


def shipped_form_path() -> Path:
    """The form shipped with the plugin: inside the plugin folder once packaged
    (build.py copies forms/ there), at the top of the repository in a checkout."""
    plugin_dir = Path(__file__).resolve().parents[2]
    packaged = plugin_dir / "forms" / FORM_FILE
    return packaged if packaged.is_file() else plugin_dir.parent / "forms" / FORM_FILE


def text_in(texts: dict[str, str], lang: str) -> str:
    """A form text in the user's language, else English, else any."""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


@dataclass
class FieldRule:
    """What one question sets on one field of one layer."""

    layer: str
    field: str
    alias: str
    expression: str | None = None
    message: str = ""
    default: Any = None


def _section_scope(section: Section) -> dict[str, str]:
    return {q.name: q.target_field for s_q in section.questions for q in s_q.walk()
            if q.target_table == section.record and q.target_field}


def _condition(section: Section) -> str | None:
    party_type = PARTY_TYPES.get(section.name) if section.record == "party" else None
    return None if party_type is None else (
        f"{column('party_type')} = {QgsExpression.quotedString(party_type)}")


def _question_rule(question: Question, section: Section, fields: dict[str, str], lang: str,
                   skipped: list[str]) -> FieldRule:
    name = question.target_field or ""
    label = text_in(question.label, lang)
    parts, messages = [], []
    if question.required:
        try:
            applies = [c for c in (_condition(section), _relevance(question, fields)) if c]
            filled = f"{as_text(column(name))} <> ''"
            parts.append(f"(NOT ({' AND '.join(applies)}) OR {filled})" if applies else filled)
            messages.append(tr("{0} is required.").format(label) if not question.relevant else
                            tr("{0} is required when it applies.").format(label))
        except UntranslatableError as why:
            skipped.append(f"{question.name} (required): {why}")
    if question.constraint:
        try:
            check = translate(expressions.parse(question.constraint), FieldScope(name, fields))
            parts.append(f"({as_text(column(name))} = '' OR {check})")
            messages.append(text_in(question.constraint_message, lang))
        except UntranslatableError as why:
            skipped.append(f"{question.name} (constraint): {why}")
    return FieldRule(section_layer(section), name, label,
                     " AND ".join(parts) if parts else None, " ".join(messages),
                     question.default)


def _relevance(question: Question, fields: dict[str, str]) -> str | None:
    if not question.relevant:
        return None
    return translate(expressions.parse(question.relevant), FieldScope(None, fields))


def section_layer(section: Section) -> str:
    return SECTION_LAYERS[section.record]


def form_rules(form: EnumerationForm, lang: str) -> tuple[list[FieldRule], list[str]]:
    """The rules of every question that targets a field, and the rules left out (why)."""
    rules: list[FieldRule] = []
    skipped: list[str] = []
    for section in form.sections:
        if section.record not in SECTION_LAYERS:
            continue
        fields = _section_scope(section)
        for top in section.questions:
            for question in top.walk():
                if (question.target_table == section.record and question.target_field
                        and question.type not in GEOMETRY_TYPES):
                    rules.append(_question_rule(question, section, fields, lang, skipped))
    return rules, skipped


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(value)
    return QgsExpression.quotedString(str(value))


def apply_form_rules(layers: dict[str, QgsVectorLayer], form: EnumerationForm,
                     lang: str) -> list[str]:
    """Set aliases, constraints and defaults; keeps the value relation widgets and any
    constraint already set (both must hold). Returns the rules left out."""
    rules, skipped = form_rules(form, lang)
    for rule in rules:
        layer = layers.get(rule.layer)
        index = layer.fields().indexOf(rule.field) if layer is not None else -1
        if index < 0:  # a geometry, or a field this layer does not show
            continue
        layer.setFieldAlias(index, rule.alias)
        if rule.expression:
            _add_constraint(layer, index, rule.expression, rule.message)
        if rule.default is not None and not layer.defaultValueDefinition(index).isValid():
            layer.setDefaultValueDefinition(index, QgsDefaultValue(_literal(rule.default)))
    return skipped


def _add_constraint(layer: QgsVectorLayer, index: int, expression: str, message: str) -> None:
    existing = layer.fields().at(index).constraints()
    old = existing.constraintExpression()
    if old:
        expression = f"({old}) AND {expression}"
        message = f"{existing.constraintDescription()} {message}".strip()
    layer.setConstraintExpression(index, expression, message)
    layer.setFieldConstraint(index, QgsFieldConstraints.ConstraintExpression,
                             QgsFieldConstraints.ConstraintStrengthHard)


def apply_shipped_form_rules(layers: dict[str, QgsVectorLayer], lang: str) -> None:
    """The shipped form's rules; a broken form file leaves the forms as they are and
    says why in the log, since the layers are still usable without them."""
    try:
        form = load_form(shipped_form_path())
    except FormDefinitionError as error:
        QgsMessageLog.logMessage(tr("The form rules were not applied: {0}").format(error),
                                 "STDM", Qgis.Warning)
        return
    for rule in apply_form_rules(layers, form, lang):
        QgsMessageLog.logMessage(tr("Form rule not applied in QGIS: {0}").format(rule),
                                 "STDM", Qgis.Info)
