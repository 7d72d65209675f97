"""Export an enumeration form as an XLSForm for ODK Collect, KoBoCollect and QField.

The form declared in forms/*.yaml is the one source: this module only
re-spells it in XLSForm (survey / choices / settings sheets) so that the
same questions, rules and code lists reach the phones. It refuses, with the
question and the reason, whatever ODK would reject or read differently,
rather than writing a file that fails later on a server or in the field.
"""
from __future__ import annotations

import os
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from ..store.errors import StdmError
from ..store.lookups import DEFAULT_LOOKUPS, LANGUAGES
from . import expressions
from .forms import CONTAINERS, EnumerationForm, Question, Section

#: category -> [(code, {language code: label})], in display order
CodeLists = dict[str, list[tuple[str, dict[str, str]]]]
Row = dict[str, Optional[str]]

#: XLSForm language columns read "label::English (en)": a name and its IANA code
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "pt": "Portuguese", "es": "Spanish", "ar": "Arabic",
    "sw": "Swahili", "am": "Amharic", "ha": "Hausa", "yo": "Yoruba", "wo": "Wolof",
    "ln": "Lingala", "rw": "Kinyarwanda", "so": "Somali", "zu": "Zulu", "xh": "Xhosa",
    "hi": "Hindi", "bn": "Bengali", "ur": "Urdu", "ne": "Nepali", "id": "Indonesian",
    "tl": "Tagalog", "vi": "Vietnamese", "de": "German", "it": "Italian", "nl": "Dutch",
}
#: our question types -> XLSForm types (selects and containers are spelt apart)
ODK_TYPES = {
    "text": "text", "integer": "integer", "decimal": "decimal", "date": "date",
    "geopoint": "geopoint", "geotrace": "geotrace", "geoshape": "geoshape",
    "photo": "image", "note": "note", "calculate": "calculate",
}
#: functions of the ODK XForms XPath dialect (XPath 1.0 core plus ODK's own)
ODK_FUNCTIONS = frozenset({
    "boolean", "ceiling", "concat", "contains", "count", "false", "floor", "not",
    "normalize-space", "number", "position", "round", "starts-with", "string",
    "string-length", "substring", "substring-after", "substring-before", "sum",
    "translate", "true",
    "abs", "acos", "area", "asin", "atan", "atan2", "base64-decode", "boolean-from-string",
    "checklist", "coalesce", "cos", "count-non-empty", "count-selected", "date",
    "date-time", "decimal-date-time", "decimal-time", "digest", "distance", "ends-with",
    "exp", "exp10", "format-date", "format-date-time", "if", "indexed-repeat", "int",
    "join", "log", "log10", "max", "min", "now", "once", "pi", "pow", "random",
    "randomize", "regex", "selected", "selected-at", "sin", "sqrt", "substr", "tan",
    "today", "uuid", "weighted-checklist",
})
#: answers ODK fills in by itself: when the interview started and ended
METADATA = ("start", "end")
#: names XLSForm keeps for itself; a question or section may not take them
RESERVED_NAMES = frozenset({"meta", "instanceID", "instanceName", *METADATA})
#: photos are shrunk on the phone to this longest side: documents (ID cards, sale
#: agreements) stay readable while a submission stays small enough for a weak network
PHOTO_MAX_PIXELS = 2048
EXPRESSION_KEYS = ("relevant", "constraint", "calculation")
TRANSLATED = ("label", "hint", "constraint_message")


class XLSFormExportError(StdmError):
    """A form that cannot be written as an XLSForm ODK would accept as meant.

    Names the question (or section), the key and, for expressions, the function,
    so that the supervisor knows which line of which form file to change.
    """

    def __init__(self, message: str, *, question: str | None = None, key: str | None = None,
                 function: str | None = None) -> None:
        where = (f"question {question!r}" if question else "form") + (
            f", {key}" if key else "")
        super().__init__(f"{where}: {message}")
        self.question = question
        self.key = key
        self.function = function


# --- code lists ------------------------------------------------------------
def default_code_lists() -> CodeLists:
    """The code lists that ship with the plugin, for a form exported without a store."""
    return {category: [(code, dict(zip(LANGUAGES, labels))) for code, *labels in values]
            for category, values in DEFAULT_LOOKUPS.items()}


def code_lists_from_store(store: Any, languages: Sequence[str] = LANGUAGES) -> CodeLists:
    """Every current code of the store's lists with its label in each language.

    Read from the store rather than DEFAULT_LOOKUPS because projects extend the
    lists (a local customary tenure, a national ID card); phones must offer those
    too, or the answers enumerators need could not be given at all.
    """
    repository = store.lookups
    languages = list(languages) or ["en"]
    lists: CodeLists = {}
    for category in repository.categories():
        by_language = {lang: repository.labels(category, lang) for lang in languages}
        lists[category] = [(code, {lang: by_language[lang].get(code, code)
                                   for lang in languages})
                           for code in by_language[languages[0]]]
    return lists


# --- columns and texts -----------------------------------------------------
def language_name(lang: str) -> str:
    """XLSForm's spelling of a language, "English (en)": pyxform warns unless the
    bracketed part is a language code; the name is what enumerators pick on the phone."""
    return f"{LANGUAGE_NAMES.get(lang, lang)} ({lang})"


def translated_column(column: str, lang: str) -> str:
    return f"{column}::{language_name(lang)}"


def survey_columns(languages: Sequence[str]) -> list[str]:
    """The survey sheet's header, always complete so importers can rely on it."""
    def texts(column: str) -> list[str]:
        return [translated_column(column, lang) for lang in languages]

    return ["type", "name", *texts("label"), *texts("hint"), "required", "relevant",
            "constraint", *texts("constraint_message"), "calculation", "default",
            "appearance", "parameters"]


def _texts(column: str, texts: dict[str, str], languages: Sequence[str]) -> Row:
    """One cell per language; a text missing in one language falls back to the
    default language's, because ODK shows a blank label as the bare name."""
    if not texts:
        return {}
    fallback = texts.get(languages[0]) or next(iter(texts.values()))
    return {translated_column(column, lang): texts.get(lang) or fallback for lang in languages}


def _cell(value: Any) -> str | None:
    """Every cell is text: Excel would otherwise turn "0012" into 12 or a date into a serial."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- checks ----------------------------------------------------------------
def _calls(node: expressions.Node) -> Iterator[str]:
    if node.kind == "call":
        yield node.value
    for child in node.children:
        yield from _calls(child)


def check_expressions(form: EnumerationForm) -> None:
    """Refuse what ODK would not evaluate as the wizard does.

    Our own evaluator knows extensions such as age(); ODK Collect would reject
    the whole form for one of them, so the supervisor is told which question
    to rewrite before any file is written. Unknown ${names} are caught here too,
    since pyxform's own message for them does not name the form file's question.
    """
    names = {q.name for q in form.questions()}
    for question in form.questions():
        for key in EXPRESSION_KEYS:
            text = getattr(question, key)
            if not text:
                continue
            try:
                tree = expressions.parse(str(text))
            except expressions.ExpressionError as exc:
                raise XLSFormExportError(str(exc), question=question.name, key=key) from exc
            for function in _calls(tree):
                if function not in ODK_FUNCTIONS:
                    raise XLSFormExportError(
                        f"{function}() is an extension of this plugin that ODK Collect and "
                        f"KoBoCollect do not know; rewrite {text!r} without it to export "
                        f"the form", question=question.name, key=key, function=function)
            unknown = sorted(expressions.references(tree) - names)
            if unknown:
                raise XLSFormExportError(f"${{{unknown[0]}}} is not a question of the form",
                                         question=question.name, key=key)


def _check_names(form: EnumerationForm) -> None:
    """XLSForm resolves ${name} across the whole form, so every name must be unique."""
    seen: set[str] = set(METADATA)
    for name in [s.name for s in form.sections] + [q.name for q in form.questions()]:
        if name in RESERVED_NAMES or name in seen:
            raise XLSFormExportError("this name is reserved by XLSForm or used twice "
                                     "(sections and questions share one namespace)",
                                     question=name, key="name")
        seen.add(name)


# --- survey sheet ----------------------------------------------------------
def _question_type(question: Question) -> str:
    if question.type.startswith("select"):
        return f"{question.type} {question.choices}"
    return ODK_TYPES[question.type]


def _question_rows(question: Question, languages: Sequence[str]) -> list[Row]:
    if question.type in CONTAINERS:
        begin: Row = {"type": f"begin_{question.type}", "name": question.name,
                      "relevant": question.relevant, "appearance": question.appearance,
                      **_texts("label", question.label, languages)}
        inner = [row for child in question.questions
                 for row in _question_rows(child, languages)]
        return [begin, *inner, {"type": f"end_{question.type}"}]
    row: Row = {
        "type": _question_type(question), "name": question.name,
        "required": "yes" if question.required and question.type not in ("note", "calculate")
        else None,
        "relevant": question.relevant, "constraint": question.constraint,
        "calculation": question.calculation, "default": _cell(question.default),
        "appearance": question.appearance,
        "parameters": f"max-pixels={PHOTO_MAX_PIXELS}" if question.type == "photo" else None,
    }
    for column in TRANSLATED:
        row.update(_texts(column, getattr(question, column), languages))
    return [row]


def _section_rows(section: Section, nested: dict[str, list[Section]],
                  languages: Sequence[str]) -> list[Row]:
    """A section, then the sections asked within each of its entries (a member's claim)."""
    kind = "repeat" if section.repeat else "group"
    rows: list[Row] = [{"type": f"begin_{kind}", "name": section.name,
                        **_texts("label", section.title, languages)}]
    for question in section.questions:
        rows.extend(_question_rows(question, languages))
    for inner in nested.get(section.name, []):
        rows.extend(_section_rows(inner, nested, languages))
    rows.append({"type": f"end_{kind}"})
    return rows


def survey_rows(form: EnumerationForm) -> list[Row]:
    nested: dict[str, list[Section]] = {}
    for section in form.sections:
        if section.within:
            nested.setdefault(section.within, []).append(section)
    rows: list[Row] = [{"type": name, "name": name} for name in METADATA]
    for section in form.sections:
        if not section.within:
            rows.extend(_section_rows(section, nested, form.languages))
    written = {row.get("name") for row in rows if str(row["type"]).startswith("begin_")}
    lost = [s.name for s in form.sections if s.name not in written]
    if lost:
        raise XLSFormExportError(f"section {lost[0]!r} is within a section that is itself "
                                 f"within it; nothing would ask it", key="within")
    return rows


# --- choices and settings --------------------------------------------------
def _used_lists(form: EnumerationForm) -> dict[str, str]:
    """category -> the first question that uses it, in the order of the form."""
    used: dict[str, str] = {}
    for question in form.questions():
        if question.type.startswith("select") and question.choices:
            used.setdefault(question.choices, question.name)
    return used


def choice_rows(form: EnumerationForm, code_lists: CodeLists) -> list[Row]:
    rows: list[Row] = []
    for category, question in _used_lists(form).items():
        values = code_lists.get(category) or []
        if not values:
            raise XLSFormExportError(f"the code list {category!r} has no values to offer",
                                     question=question, key="choices")
        for code, labels in values:
            rows.append({"list_name": category, "name": code,
                         **_texts("label", labels or {form.languages[0]: code}, form.languages)})
    return rows


def _instance_name(form: EnumerationForm) -> str | None:
    """Name each submission after its household, so a list of drafts on a phone (or of
    submissions on a server) is readable; only an answer outside repeats can do it."""
    for section in form.sections:
        if section.repeat or section.within:
            continue
        for question in section.questions:
            if question.target == "party.group_name" and question.type == "text":
                return f"${{{question.name}}}"
    return None


def settings_row(form: EnumerationForm) -> Row:
    default = form.languages[0]
    return {"form_title": form.title.get(default) or form.form_id, "form_id": form.form_id,
            "version": form.version, "default_language": language_name(default),
            "instance_name": _instance_name(form)}


# --- writing ---------------------------------------------------------------
def _write_sheet(workbook: Any, title: str, columns: Sequence[str], rows: list[Row]) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(column) for column in columns])


def _xlsx_path(path: str | os.PathLike) -> Path:
    """pyxform and the servers pick the reader by extension: make sure it is .xlsx."""
    path = Path(path)
    return path if path.suffix.lower() == ".xlsx" else path.with_name(path.name + ".xlsx")


def export_xlsform(form: EnumerationForm, path: str | os.PathLike, *,
                   code_lists: CodeLists | None = None) -> Path:
    """Write the form as an XLSForm (.xlsx) and return where it went.

    Everything is checked and the workbook built in memory before the file is
    touched, so a refused export never leaves a half-written form that someone
    could upload by mistake.
    """
    from openpyxl import Workbook  # only this export needs it; core imports without it

    check_expressions(form)
    _check_names(form)
    languages = form.languages
    survey = survey_rows(form)
    choices = choice_rows(form, default_code_lists() if code_lists is None else code_lists)
    settings = settings_row(form)
    workbook = Workbook()
    workbook.remove(workbook.active)
    _write_sheet(workbook, "survey", survey_columns(languages), survey)
    _write_sheet(workbook, "choices",
                 ["list_name", "name", *(translated_column("label", lang) for lang in languages)],
                 choices)
    _write_sheet(workbook, "settings", [key for key, value in settings.items() if value],
                 [settings])
    content = BytesIO()
    workbook.save(content)
    target = _xlsx_path(path)
    target.write_bytes(content.getvalue())
    return target
