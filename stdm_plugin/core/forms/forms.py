"""Enumeration forms declared as data (forms/*.yaml), checked against the model.

A form is declared once and used three ways: the QGIS enumeration wizard
and the layers' attribute forms, the XLSForm for ODK Collect / KoBoCollect /
QField, and the mapping that imports what comes back. Each question names
its target field in the STDM model, so nothing is entered twice.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.errors import StdmError
from ..store.lookups import DEFAULT_LOOKUPS
from ..store.model import Party, SocialTenure, SpatialUnit
from . import expressions

QUESTION_TYPES = ("text", "integer", "decimal", "date", "select_one", "select_multiple",
                  "geopoint", "geotrace", "geoshape", "photo", "note", "calculate",
                  "group", "repeat")
CONTAINERS = ("group", "repeat")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: where an answer can go: table -> the model's fields
TARGET_FIELDS: dict[str, tuple[str, ...]] = {
    "party": tuple(Party.data_fields()),
    "spatial_unit": tuple(SpatialUnit.data_fields()),
    "social_tenure": tuple(SocialTenure.data_fields()),
}
#: photo/file questions become supporting documents of this record
DOCUMENT_TARGETS = {"party", "spatial_unit", "social_tenure"}
DOCUMENT_TYPES = tuple(code for code, *_ in DEFAULT_LOOKUPS["document_type"])


class FormDefinitionError(StdmError):
    """A form file that does not hold together; says which file, question and key."""

    def __init__(self, message: str, *, path: str, question: str | None = None,
                 key: str | None = None) -> None:
        where = f"{path}" + (f", question {question!r}" if question else "") + (
            f", key {key!r}" if key else "")
        super().__init__(f"{where}: {message}")
        self.path = path
        self.question = question
        self.key = key


#: keys whose YAML value must be text (or absent); others are checked where read
TEXT_KEYS = ("type", "constraint", "relevant", "choices", "target", "calculation",
             "appearance", "name", "within", "record", "form_id", "version")


def _checked_types(raw: dict, *, path: str, question: str | None = None) -> dict:
    """``raw`` once its keys hold the kinds of value the form reads (text, lists), so
    that a hand-edited file with a list where a name belongs is refused, not a crash."""
    for key in TEXT_KEYS:
        value = raw.get(key)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, (str, int, float))):
            raise FormDefinitionError(f"{key} must be text, not {type(value).__name__}",
                                      path=path, question=question, key=key)
    for key in ("questions", "sections", "languages"):
        value = raw.get(key)
        if value is not None and not isinstance(value, list):
            raise FormDefinitionError(f"{key} must be a list, not {type(value).__name__}",
                                      path=path, question=question, key=key)
    for key in ("sections", "languages"):
        if any(not isinstance(v, str) or not NAME.match(v) for v in raw.get(key) or []):
            raise FormDefinitionError(f"{key} must be names (letters, digits and _)",
                                      path=path, question=question, key=key)
    return {k: str(v) if k in TEXT_KEYS and v is not None else v for k, v in raw.items()}


@dataclass
class Question:
    name: str
    type: str
    label: dict[str, str] = field(default_factory=dict)
    hint: dict[str, str] = field(default_factory=dict)
    required: bool = False
    constraint: str | None = None
    constraint_message: dict[str, str] = field(default_factory=dict)
    relevant: str | None = None
    choices: str | None = None  # a code list category (lookups)
    target: str | None = None  # "party.first_name", or "document:photo" for files
    default: Any = None
    calculation: str | None = None
    appearance: str | None = None
    questions: list["Question"] = field(default_factory=list)

    @property
    def target_table(self) -> str | None:
        return self.target.split(".", 1)[0] if self.target and "." in self.target else None

    @property
    def target_field(self) -> str | None:
        return self.target.split(".", 1)[1] if self.target and "." in self.target else None

    @property
    def document_type(self) -> str | None:
        if self.target and self.target.startswith("document:"):
            return self.target.split(":", 1)[1]
        return None

    def walk(self):
        yield self
        for child in self.questions:
            yield from child.walk()


@dataclass
class Section:
    """One part of the enumeration: parcel, household, members, tenure claims."""

    name: str
    title: dict[str, str]
    record: str  # the table its answers become: party, spatial_unit, social_tenure
    repeat: bool
    questions: list[Question]
    path: str = ""
    #: answered once per entry of that (repeat) section, e.g. each member's claim
    within: str | None = None


@dataclass
class EnumerationForm:
    form_id: str
    version: str
    title: dict[str, str]
    languages: list[str]
    sections: list[Section]
    path: str = ""

    def questions(self):
        for section in self.sections:
            for question in section.questions:
                yield from question.walk()

    def without(self, section_name: str) -> "EnumerationForm":
        """The form with one section left out (a parcel picked on the map is not asked)."""
        return dataclasses.replace(
            self, sections=[s for s in self.sections if s.name != section_name])

    def question(self, name: str) -> Question:
        for question in self.questions():
            if question.name == name:
                return question
        raise KeyError(name)


def _texts(value: Any, languages: list[str], *, path: str, question: str, key: str,
           required: bool) -> dict[str, str]:
    if value in (None, "") and not required:
        return {}
    if isinstance(value, str):
        raise FormDefinitionError(f"give {key} in every language ({', '.join(languages)}), "
                                  f"e.g. {key}: {{en: ..., fr: ...}}",
                                  path=path, question=question, key=key)
    if not isinstance(value, dict):
        raise FormDefinitionError(f"{key} must map languages to text", path=path,
                                  question=question, key=key)
    missing = [lang for lang in languages if not str(value.get(lang) or "").strip()]
    if missing:
        raise FormDefinitionError(f"{key} has no text in {', '.join(missing)}", path=path,
                                  question=question, key=key)
    return {str(k): str(v) for k, v in value.items()}


def _question(raw: dict, languages: list[str], record: str, path: str,
              seen: set[str]) -> Question:
    if not isinstance(raw, dict):
        raise FormDefinitionError(f"a question must be a mapping, not {raw!r}", path=path)
    known = {f.name for f in dataclasses.fields(Question)}
    raw = _checked_types(raw, path=path, question=str(raw.get("name") or "?"))
    name = str(raw.get("name", ""))
    unknown = set(raw) - known
    if unknown:
        raise FormDefinitionError(f"unknown key(s) {sorted(unknown)}", path=path, question=name,
                                  key=sorted(unknown)[0])
    if not NAME.match(name):
        raise FormDefinitionError("a name must be letters, digits and _, starting with a "
                                  "letter", path=path, question=name or "?", key="name")
    if name in seen:
        raise FormDefinitionError("this name is used twice in the form", path=path,
                                  question=name, key="name")
    seen.add(name)
    kind = raw.get("type")
    if kind not in QUESTION_TYPES:
        raise FormDefinitionError(f"type {kind!r} is not supported (supported: "
                                  f"{', '.join(QUESTION_TYPES)})", path=path, question=name,
                                  key="type")
    question = Question(
        name=name, type=kind,
        label=_texts(raw.get("label"), languages, path=path, question=name, key="label",
                     required=kind != "calculate"),
        hint=_texts(raw.get("hint"), languages, path=path, question=name, key="hint",
                    required=False),
        required=bool(raw.get("required", False)),
        constraint=raw.get("constraint"), relevant=raw.get("relevant"),
        constraint_message=_texts(raw.get("constraint_message"), languages, path=path,
                                  question=name, key="constraint_message",
                                  required=bool(raw.get("constraint"))),
        choices=raw.get("choices"), target=raw.get("target"), default=raw.get("default"),
        calculation=raw.get("calculation"), appearance=raw.get("appearance"),
        questions=[_question(q, languages, record, path, seen)
                   for q in raw.get("questions") or []])
    _check_question(question, record, path)
    return question


def _check_question(q: Question, record: str, path: str) -> None:
    for key in ("constraint", "relevant", "calculation"):
        text = getattr(q, key)
        if text:
            try:
                expressions.parse(str(text))
            except expressions.ExpressionError as exc:
                raise FormDefinitionError(str(exc), path=path, question=q.name,
                                          key=key) from exc
    if q.type.startswith("select") and q.choices not in DEFAULT_LOOKUPS:
        raise FormDefinitionError(f"choices must name a code list ({', '.join(DEFAULT_LOOKUPS)})",
                                  path=path, question=q.name, key="choices")
    if q.type == "calculate" and not q.calculation:
        raise FormDefinitionError("a calculate question needs a calculation", path=path,
                                  question=q.name, key="calculation")
    if q.type in CONTAINERS and not q.questions:
        raise FormDefinitionError(f"a {q.type} needs questions", path=path, question=q.name,
                                  key="questions")
    if q.target is None:
        return
    if q.document_type is not None:
        if q.type != "photo":
            raise FormDefinitionError("only photo questions can target a document",
                                      path=path, question=q.name, key="target")
        if q.document_type not in DOCUMENT_TYPES:
            raise FormDefinitionError(f"unknown document type {q.document_type!r}",
                                      path=path, question=q.name, key="target")
        return
    table, column = q.target_table, q.target_field
    if table not in TARGET_FIELDS or column not in TARGET_FIELDS[table]:
        raise FormDefinitionError(f"target {q.target!r} is not a field of the model "
                                  f"(e.g. party.first_name)", path=path, question=q.name,
                                  key="target")
    if table != record:
        raise FormDefinitionError(f"a question of a {record} section cannot target {table}",
                                  path=path, question=q.name, key="target")


def _read_mapping(path: Path, what: str) -> dict:
    """A YAML file that must hold a mapping, with its values of the expected kinds."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FormDefinitionError(f"cannot be read: {exc}", path=str(path)) from exc
    if not isinstance(raw, dict):
        raise FormDefinitionError(f"a {what} file holds a mapping", path=str(path))
    return _checked_types(raw, path=str(path))


def load_section(path: Path, languages: list[str], seen: set[str]) -> Section:
    raw = _read_mapping(path, "section")
    record = raw.get("record")
    if record not in TARGET_FIELDS:
        raise FormDefinitionError(f"record must be one of {', '.join(TARGET_FIELDS)}",
                                  path=str(path), key="record")
    title = _texts(raw.get("title"), languages, path=str(path), question=str(path.stem),
                   key="title", required=True)
    questions = [_question(q, languages, record, str(path), seen)
                 for q in raw.get("questions") or []]
    return Section(name=str(raw.get("name") or path.stem), title=title, record=record,
                   repeat=bool(raw.get("repeat", False)), questions=questions, path=str(path),
                   within=raw.get("within"))


def load_form(path: str | Path) -> EnumerationForm:
    """Read a form (its settings file and the section files it lists) and check it."""
    path = Path(path)
    raw = _read_mapping(path, "form")
    languages = list(raw.get("languages") or ["en", "fr"])
    seen: set[str] = set()
    sections = []
    for name in raw.get("sections") or []:
        section_path = path.parent / f"{name}.yaml"
        if not section_path.is_file():
            raise FormDefinitionError(f"section file {section_path.name} is missing",
                                      path=str(path), key="sections")
        sections.append(load_section(section_path, languages, seen))
    if not sections:
        raise FormDefinitionError("a form needs sections", path=str(path), key="sections")
    repeats = {s.name for s in sections if s.repeat}
    for section in sections:
        if section.within is not None and section.within not in repeats:
            raise FormDefinitionError(f"within must name a repeat section ({', '.join(repeats)})",
                                      path=section.path, key="within")
    form_id = str(raw.get("form_id", ""))
    if not NAME.match(form_id):
        raise FormDefinitionError("form_id must be letters, digits and _", path=str(path),
                                  key="form_id")
    return EnumerationForm(
        form_id=form_id, version=str(raw.get("version", "1")),
        title=_texts(raw.get("title"), languages, path=str(path), question=form_id,
                     key="title", required=True),
        languages=languages, sections=sections, path=str(path))
