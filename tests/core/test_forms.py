"""The enumeration forms as data: loading, refusing broken definitions, expressions."""
import pathlib
import textwrap

import pytest

from stdm_plugin.core.forms.expressions import ExpressionError, holds, parse, references
from stdm_plugin.core.forms.forms import FormDefinitionError, load_form

FORMS = pathlib.Path(__file__).resolve().parents[2] / "forms"


def test_shipped_form_loads_with_its_sections_and_targets():
    form = load_form(FORMS / "enumeration.yaml")
    assert [s.name for s in form.sections] == ["parcel", "household", "members", "tenure"]
    assert form.languages == ["en", "fr"]
    members = next(s for s in form.sections if s.name == "members")
    assert members.repeat and members.record == "party"
    tenure = next(s for s in form.sections if s.name == "tenure")
    assert tenure.within == "members"
    assert form.question("age_years").target == "party.age_years"
    assert form.question("id_photo").document_type == "id_scan"
    assert all(q.label.get("fr") for q in form.questions())


def write_form(folder, section_yaml):
    (folder / "main.yaml").write_text(textwrap.dedent("""\
        form_id: test_form
        title: {en: Test, fr: Essai}
        sections: [only]
        """), encoding="utf-8")
    (folder / "only.yaml").write_text(textwrap.dedent(section_yaml), encoding="utf-8")
    return folder / "main.yaml"


GOOD_QUESTION = """\
    record: party
    title: {en: People, fr: Personnes}
    questions:
      - name: first_name
        type: text
        target: party.first_name
        label: {en: First name, fr: Prénom}
    """


@pytest.mark.parametrize("change,question,key", [
    (("type: text", "type: signature"), "first_name", "type"),
    (("target: party.first_name", "target: party.salary"), "first_name", "target"),
    (("target: party.first_name", "target: social_tenure.evidence"), "first_name", "target"),
    (("{en: First name, fr: Prénom}", "{en: First name}"), "first_name", "label"),
    (("{en: First name, fr: Prénom}", "First name"), "first_name", "label"),
    (("name: first_name", "name: 1st name"), "1st name", "name"),
    (("type: text", "type: text\n        relevant: \"${x} =\""), "first_name", "relevant"),
    (("type: text", "type: text\n        constraint: \"__import__('os')\"\n"
                    "        constraint_message: {en: x, fr: x}"), "first_name", "constraint"),
    (("type: text", "type: select_one\n        choices: colours"), "first_name", "choices"),
    (("type: text", "type: text\n        colour: red"), "first_name", "colour"),
])
def test_a_broken_definition_names_file_question_and_key(tmp_path, change, question, key):
    path = write_form(tmp_path, GOOD_QUESTION.replace(*change))
    with pytest.raises(FormDefinitionError) as info:
        load_form(path)
    assert info.value.path.endswith("only.yaml")
    assert (info.value.question, info.value.key) == (question, key)


def test_a_name_used_twice_is_refused(tmp_path):
    twice = GOOD_QUESTION.rstrip(" ") + (
        "      - name: first_name\n"
        "        type: text\n"
        "        label: {en: Again, fr: Encore}\n")
    with pytest.raises(FormDefinitionError, match="used twice"):
        load_form(write_form(tmp_path, twice))


def test_a_missing_section_file_or_unreadable_yaml_is_reported(tmp_path):
    path = write_form(tmp_path, GOOD_QUESTION)
    (tmp_path / "only.yaml").write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(FormDefinitionError, match="only.yaml: cannot be read"):
        load_form(path)
    (tmp_path / "only.yaml").unlink()
    with pytest.raises(FormDefinitionError, match="only.yaml is missing"):
        load_form(path)


@pytest.mark.parametrize("text,answers,current,expected", [
    (". >= 0 and . <= 130", {}, 45, True),
    (". >= 0 and . <= 130", {}, 131, False),
    ("${dob} = ''", {"dob": ""}, None, True),
    ("${dob} = ''", {"dob": "1980-02-01"}, None, False),
    ("${t} != '' and ${t} != 'none'", {"t": "passport"}, None, True),
    ("selected(${items}, 'radio')", {"items": "tv radio"}, None, True),
    ("count-selected(${items}) = 2", {"items": ["tv", "radio"]}, None, True),
    ("regex(., '^[+]?[0-9 ]{8,20}$')", {}, "+225 07 01 02 03", True),
    ("regex(., '^[+]?[0-9 ]{8,20}$')", {}, "call me", False),
    ("string-length(.) >= 4", {}, "AB1", False),
    (". <= today()", {}, "2001-05-01", True),
    (". <= today()", {}, "2999-05-01", False),
    (". >= ${share_numerator}", {"share_numerator": "2"}, 3, True),
    (". >= ${share_numerator}", {"share_numerator": 2}, "1", False),
    ("1 + 2 * 3 = 7 and 7 div 2 = 3.5 and 7 mod 2 = 1 and -1 < 0", {}, None, True),
    ("not(${a}) or if(${a}, 'y', 'n') = 'y'", {"a": ""}, None, True),
    ("coalesce(${a}, 'z') = 'z'", {}, None, True),
])
def test_expressions(text, answers, current, expected):
    assert holds(text, answers, current) is expected


def test_expressions_refuse_code_and_know_their_references():
    for bad in ("__import__('os')", "${x} = ", "open('/etc/passwd')", "1 +* 2", "'a' 'b'"):
        with pytest.raises(ExpressionError):
            parse(bad)
    assert references(parse("${a} = 1 and selected(${b}, 'x')")) == {"a", "b"}


def test_long_flat_chains_are_refused_not_crashed():
    assert holds(" + ".join(["1"] * 150) + " = 150", {})
    for n in (1000, 20000):
        with pytest.raises(ExpressionError, match="too long"):
            holds(" + ".join(["1"] * n) + " > 0", {})


def test_regex_patterns_come_from_the_form_not_from_answers():
    assert holds("regex(., '^[0-9]{4}$')", {}, "2024")
    for text in ("regex(., ${pattern})", "regex(., concat('^', ${x}))", "regex(.)"):
        with pytest.raises(ExpressionError, match="quoted pattern"):
            parse(text)
