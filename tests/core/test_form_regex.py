"""regex() in form expressions cannot be made to run for long (issue 7, hostile input).

Python's re took three minutes for ``.*x.*y`` on 10,000 characters; the
patterns that backtrack exponentially (``(a+)+``) are refused when the form
is loaded, and every pattern runs in form_regex, whose steps are bounded by
the text's length times the pattern's states. No test here is timed: each
asserts the refusal, or counts the steps.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from stdm_plugin.core.forms import regex as form_regex
from stdm_plugin.core.forms.expressions import (
    ExpressionError,
    RegexTextTooLongError,
    evaluate,
    holds,
    parse,
)
from stdm_plugin.core.forms.forms import FormDefinitionError, load_form
from stdm_plugin.core.forms.regex import MAX_STATES, MAX_TEXT, PatternError, compile_pattern

FORMS = Path(__file__).resolve().parents[2] / "forms"
#: patterns of real XLSForms, with texts they accept and refuse
USUAL = [
    ("^[0-9]+$", ["0", "2024"], ["", "12a", "1 2"]),
    ("^[A-Z]{2}[0-9]{6}$", ["CI123456"], ["C1123456", "CI12345", "ci123456", "CI1234567"]),
    ("^[+]?[0-9 ]{8,20}$", ["+225 07 01 02 03", "0701020304"],
     ["call me", "+225", "++22507010203"]),
    (r"^(\+225|00225)?[0-9]{8,10}$", ["+2250701020304", "0701020304"], ["+33701020304"]),
    (r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", ["awa.kone@example.ci"], ["awa@", "a b@x.ci", "a@b.c"]),
    (r"^\d{2}/\d{2}/\d{4}$", ["02/03/1978"], ["2/3/1978", "1978-03-02"]),
    ("^0[1-9]( ?[0-9]{2}){4}$", ["01 23 45 67 89", "0123456789"], ["1234567890"]),
    ("^CI[0-9]{9}$", ["CI001234567"], ["CI00123456"]),
    ("^[A-Za-zÀ-ÿ' -]+$", ["Koné", "N'Guessan Awa"], ["Awa2"]),
    ("^.{1,40}$", ["Maison Koné"], ["", "x" * 41]),
    (r"\bKOU-\d+", ["parcel KOU-12"], ["XKOU-12"]),
]
#: the classic catastrophic patterns, and the constructs that cannot be bounded
CATASTROPHIC = ["(a+)+$", "(a*)*", "(a|aa)+", "(.*)*", "^(\\d+)*$", "(x+x+)+y", "(a?){25}",
                "([a-z]+ ?)+$"]
UNSUPPORTED = ["(a)\\1", "(?P<x>a)(?P=x)", "(?=a)a", "(?!a)b", "(?<=a)b", "(?<!a)b",
               "(a)?(?(1)b|c)", "(?>a+)", "a*+", "(?i)ci", "(?s:.)", "a{1000}", ".{0,999}"]


@pytest.mark.parametrize("pattern, matching, other", USUAL)
def test_usual_patterns_are_accepted_and_match_as_re_does(pattern, matching, other):
    quote = '"' if "'" in pattern else "'"
    for text in matching + other:
        expected = re.search(pattern, text) is not None
        assert holds(f"regex(., {quote}{pattern}{quote})", {}, text) is expected, text
        assert expected is (text in matching), text


def test_the_patterns_of_the_shipped_forms_are_accepted():
    found = []
    for path in FORMS.glob("*.yaml"):
        for question in _questions(yaml.safe_load(path.read_text(encoding="utf-8"))):
            for key in ("constraint", "relevant", "calculation"):
                if "regex(" in str(question.get(key) or ""):
                    found.append(question[key])
                    parse(question[key])
    assert found  # person.yaml's phone number
    load_form(FORMS / "enumeration.yaml")


def _questions(section):
    for question in (section or {}).get("questions") or []:
        yield question
        yield from _questions(question)


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_nested_quantifiers_are_refused_with_the_expression(pattern):
    text = f"regex(., '{pattern}')"
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    message = str(caught.value)
    assert "time exponential" in message and repr(text) in message and pattern in message


@pytest.mark.parametrize("pattern", UNSUPPORTED)
def test_backreferences_lookarounds_and_flags_are_refused(pattern):
    with pytest.raises(ExpressionError, match="is refused: "):
        parse(f"regex(., '{pattern}')")


def test_an_invalid_pattern_is_refused_when_parsed_not_when_evaluated():
    with pytest.raises(ExpressionError, match="not a valid regular expression"):
        parse("regex(., '[0-9')")


def test_a_form_with_a_catastrophic_pattern_does_not_load(tmp_path):
    (tmp_path / "main.yaml").write_text(textwrap.dedent("""\
        form_id: test_form
        title: {en: Test, fr: Essai}
        sections: [only]
        """), encoding="utf-8")
    (tmp_path / "only.yaml").write_text(textwrap.dedent("""\
        record: party
        title: {en: People, fr: Personnes}
        questions:
          - name: national_id
            type: text
            target: party.national_id
            label: {en: ID, fr: Pièce}
            constraint: "regex(., '^([0-9]+)+$')"
            constraint_message: {en: Digits, fr: Chiffres}
        """), encoding="utf-8")
    with pytest.raises(FormDefinitionError) as caught:
        load_form(tmp_path / "main.yaml")
    assert "national_id" in str(caught.value) and "^([0-9]+)+$" in str(caught.value)


def test_a_text_over_the_limit_never_satisfies_a_condition_with_regex():
    long = "1" * (MAX_TEXT + 1)
    assert holds("regex(., '^[0-9]+$')", {}, "1" * MAX_TEXT)
    assert not holds("regex(., '^[0-9]+$')", {}, long)
    # negated, or behind another clause, the over-long text still fails the condition
    assert not holds("not(regex(., '[<>]'))", {}, long)
    assert not holds("string-length(.) > 5 or regex(., '^x$')", {}, long)
    assert not holds("regex(concat(${a}, .), '^[0-9]+$')", {"a": "1" * MAX_TEXT}, "2")
    with pytest.raises(RegexTextTooLongError):  # evaluated directly, it is refused
        evaluate(parse("regex(., '^[0-9]+$')"), {}, long)
    with pytest.raises(ValueError):
        compile_pattern("^[0-9]+$").search(long)


@pytest.mark.parametrize("pattern, text", [
    (".*x.*y", "x" * MAX_TEXT),  # three minutes in re
    (r"\d+\d+y", "1" * MAX_TEXT),
    ("^.*x.*x.*y$", "x" * MAX_TEXT),
    (".{0,240}z", "".join(chr(0x4E00 + i % 5000) for i in range(MAX_TEXT))),
])
def test_searches_look_at_each_character_at_most_once_per_state(pattern, text):
    compiled = form_regex.Pattern(pattern)  # a fresh one: its count starts at 0
    assert compiled.search(text) is False
    assert 0 < compiled.steps <= len(text) * len(compiled.code) <= MAX_TEXT * MAX_STATES


def test_pattern_errors_say_why():
    for pattern, said in [("(a+)+", "inside a repeated group"), ("(a)\\1", "backreference"),
                          ("(" * 2000 + ")" * 2000, "nested"), ("a{2,600}", "above")]:
        with pytest.raises(PatternError, match=said):
            compile_pattern(pattern)


def test_expressions_match_with_form_regex_not_re(monkeypatch):
    seen = []
    search = form_regex.Pattern.search
    monkeypatch.setattr(form_regex.Pattern, "search",
                        lambda self, text: seen.append(self.pattern) or search(self, text))
    assert holds("regex(., '^K[0-9]+$')", {}, "K12")
    assert seen == ["^K[0-9]+$"]
