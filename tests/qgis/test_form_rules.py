"""The layers' attribute forms apply the enumeration form's rules, as QGIS evaluates them."""
import dataclasses
import pathlib

import pytest
from qgis.core import (
    QgsExpression,
    QgsExpressionContext,
    QgsFeature,
    QgsField,
    QgsFieldConstraints,
    QgsFields,
    QgsProject,
    QgsVectorLayerUtils,
)
from qgis.PyQt.QtCore import QVariant

from stdm_plugin.core.forms import expressions
from stdm_plugin.core.forms.forms import load_form
from stdm_plugin.qgis.forms.expressions import FieldScope, UntranslatableError, translate
from stdm_plugin.qgis.forms.rules import apply_form_rules, form_rules, shipped_form_path
from stdm_plugin.qgis.project.project import add_store_to_project

FORM = load_form(pathlib.Path(__file__).resolve().parents[2] / "forms" / "enumeration.yaml")


@pytest.fixture
def layers(filled_store, qgis_app):
    project = QgsProject.instance()
    yield add_store_to_project(project, filled_store)
    project.clear()


def valid(layer, field, **values):
    feature = QgsFeature(layer.fields())
    for name, value in values.items():
        feature[name] = value
    ok, errors = QgsVectorLayerUtils.validateAttribute(layer, feature,
                                                       layer.fields().indexOf(field))
    return ok


def test_the_shipped_form_is_found_in_the_checkout():
    assert shipped_form_path() == pathlib.Path(FORM.path)


def test_age_gets_the_form_constraint_and_alias(layers):
    parties = layers["parties"]
    index = parties.fields().indexOf("age_years")
    assert parties.attributeAlias(index) == "Age in years"
    constraints = parties.fields().at(index).constraints()
    assert constraints.constraintStrength(QgsFieldConstraints.ConstraintExpression) == (
        QgsFieldConstraints.ConstraintStrengthHard)
    assert "The age is between 0 and 130." in constraints.constraintDescription()
    person = {"party_type": "person", "first_name": "Awa"}
    assert not valid(parties, "age_years", **person, age_years=200)
    assert valid(parties, "age_years", **person, age_years=40)
    assert not valid(parties, "age_years", **person, age_years=-1)
    # required while there is no date of birth, as on the phone
    assert not valid(parties, "age_years", **person)
    assert valid(parties, "age_years", **person, date_of_birth="1978-03-02")
    # a household has no age: the members' "required" does not reach it
    assert valid(parties, "age_years", party_type="household", group_name="Famille Koné")


def test_other_rules_of_the_form_reach_the_layers(layers):
    parties, tenure, parcels = layers["parties"], layers["tenure"], layers["parcels"]
    person = {"party_type": "person"}
    assert valid(parties, "phone", **person, phone="+225 07 01 02 03")
    assert not valid(parties, "phone", **person, phone="call me")
    assert valid(parties, "phone", **person)  # not required: empty is fine
    assert not valid(parties, "id_document_number", **person, id_document_type="passport")
    assert not valid(parties, "id_document_number", **person, id_document_type="passport",
                     id_document_number="12")
    assert valid(parties, "id_document_number", **person, id_document_type="passport",
                 id_document_number="P1234")
    assert valid(parties, "id_document_number", **person, id_document_type="none")
    assert not valid(parties, "date_of_birth", **person, date_of_birth="2999-01-01",
                     age_years=3)
    assert not valid(parties, "first_name", **person)
    assert valid(parties, "first_name", party_type="household", group_name="Famille Koné")
    assert not valid(parties, "group_name", party_type="household")
    assert not valid(tenure, "share_denominator", tenure_type="owner", share_numerator=3,
                     share_denominator=2)
    assert valid(tenure, "share_denominator", tenure_type="owner", share_numerator=1,
                 share_denominator=2)
    # the numerator keeps its own rule (at most the denominator) and gets the form's (>= 1)
    assert not valid(tenure, "share_numerator", tenure_type="owner", share_numerator=0,
                     share_denominator=2)
    assert not valid(tenure, "share_numerator", tenure_type="owner", share_numerator=3,
                     share_denominator=2)
    assert parcels.attributeAlias(parcels.fields().indexOf("land_use")) == (
        "What is the parcel used for?")
    assert not valid(parcels, "land_use")
    assert valid(parcels, "land_use", land_use="residential")
    assert tenure.defaultValueDefinition(tenure.fields().indexOf("share_numerator")
                                         ).expression() == "1"


def test_labels_in_the_user_language(filled_store, qgis_app):
    project = QgsProject.instance()
    try:
        layers = add_store_to_project(project, filled_store, "fr")
        parties = layers["parties"]
        assert parties.attributeAlias(parties.fields().indexOf("age_years")) == "Âge en années"
        description = parties.fields().field("age_years").constraints().constraintDescription()
        assert "L'âge est compris entre 0 et 130." in description
    finally:
        project.clear()


def test_a_rule_reading_another_record_is_left_out_not_approximated(layers):
    members = next(s for s in FORM.sections if s.name == "members")
    tenure = next(s for s in FORM.sections if s.name == "tenure")
    evidence = dataclasses.replace(tenure.questions[4], constraint="${sex} = 'female'",
                                   constraint_message={"en": "Only women"})
    form = dataclasses.replace(FORM, sections=[
        members, dataclasses.replace(tenure, questions=[evidence])])
    rules, skipped = form_rules(form, "en")
    assert skipped == ["evidence (constraint): ${sex} is not a field of the same record"]
    assert next(r for r in rules if r.field == "evidence").expression is None
    layer = layers["tenure"]
    assert apply_form_rules(layers, form, "en") == skipped
    assert not layer.fields().field("evidence").constraints().constraintExpression()


# XLSForm and QGIS give the same truth for the same answers: the core's evaluator is
# the reference, each translated expression is evaluated by QGIS on a feature.
CASES = [
    (". >= 0 and . <= 130", {}, [0, 130, 131, -1, 40]),
    ("${a} = ''", {"a": [None, "", "x"]}, [None]),
    ("${a} != '' and ${a} != 'none'", {"a": [None, "", "none", "passport"]}, [None]),
    ("string-length(.) >= 4", {}, ["abc", "abcd", "CI0012345"]),
    ("regex(., '^[+]?[0-9 ]{8,20}$')", {}, ["+225 07 01 02", "call me", "12345678"]),
    # a text over form_regex.MAX_TEXT fails a condition with regex(), negated or not
    ("not(regex(., '[<>]'))", {}, ["<b>", "ok", "x" * 10_001]),
    ("regex(., '^[0-9]+$') or . = 'n/a'", {}, ["12", "n/a", "1" * 10_000, "1" * 10_001]),
    (". <= today()", {}, ["1978-03-02", "2999-12-31"]),
    (". >= ${n}", {"n": [1, 3]}, [2, 3]),
    ("(. + 1) * 2 = 10 or . mod 2 = 1", {}, [4, 3, 6]),
    (". div 2 = 1.5", {}, [3, 4]),
    ("selected(${m}, 'b')", {"m": ["a b", "a", None]}, [None]),
    ("count-selected(${m}) = 2", {"m": ["a b", "a", None]}, [None]),
    ("not(${a} = 'x')", {"a": ["x", "y"]}, [None]),
    ("int(.) = 2", {}, [2.7, 3.1]),
    ("if(${a} = 'x', 1, 2) = 1", {"a": ["x", "y"]}, [None]),
    ("concat(${a}, '-', .) = 'x-1'", {"a": ["x", "y"]}, ["1"]),
    ("coalesce(${a}, 'z') = 'z'", {"a": [None, "y"]}, [None]),
    ("-. < 0 and true() and not(false())", {}, [1, -1]),
    ("number(${a}) > 2", {"a": ["3", "1"]}, [None]),
    ("string(.) = '5'", {}, [5, 6]),
]


def _combinations(refs, currents):
    names = sorted(refs)
    if not names:
        return [({}, c) for c in currents]
    out = []
    for value in refs[names[0]]:
        for rest, current in _combinations({k: v for k, v in refs.items() if k != names[0]},
                                           currents):
            out.append(({names[0]: value, **rest}, current))
    return out


@pytest.mark.parametrize("text,refs,currents", CASES)
def test_translated_expressions_agree_with_the_core(qgis_app, text, refs, currents):
    fields = QgsFields()
    for name in ("dot", *refs):
        fields.append(QgsField(name, QVariant.String))
    qgis = QgsExpression(translate(expressions.parse(text),
                                   FieldScope("dot", {n: n for n in refs})))
    assert not qgis.hasParserError(), (qgis.expression(), qgis.parserErrorString())
    for answers, current in _combinations(refs, currents):
        feature = QgsFeature(fields)
        for name, value in {"dot": current, **answers}.items():
            feature[name] = None if value is None else str(value)
        context = QgsExpressionContext()
        context.setFeature(feature)
        typed = {k: v for k, v in answers.items() if v is not None}
        expected = expressions.holds(text, typed, current)
        got = bool(qgis.evaluate(context))
        assert got == expected, (text, answers, current, qgis.expression())


def test_what_qgis_cannot_do_the_same_way_is_refused():
    with pytest.raises(UntranslatableError):
        translate(expressions.parse("age(${born}) > 18"), FieldScope(None, {"born": "b"}))
    with pytest.raises(UntranslatableError):
        translate(expressions.parse(". > ${elsewhere}"), FieldScope("x", {}))


def test_a_pattern_the_core_refuses_is_refused_in_qgis_too():
    """The parser refuses it first; a tree built by hand cannot bring it to PCRE."""
    node = expressions.Node("call", "regex", (expressions.Node("dot"),
                                              expressions.Node("string", "(a+)+$")))
    with pytest.raises(expressions.ExpressionError, match="inside a repeated group"):
        translate(node, FieldScope("x", {}))
