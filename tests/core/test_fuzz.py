"""Hostile input (issue 7, point 3): the form engine and the importers are fuzzed.

Each property feeds random or mutated input to one entry point and accepts
only two outcomes: a result, or the documented refusal with a message
(ExpressionError, FormDefinitionError, MappingError, SubmissionValueError;
import_submissions never raises and, in all-or-nothing mode, writes nothing
when it reports a problem). Any other exception is a crash. Every example has
a deadline of its own (no hang).

The examples per property are few here (a short run in the test suite);
``benchmarks/fuzz_run.py`` runs the same properties with many more
(STDM_FUZZ_EXAMPLES) and counts the inputs tried through TRIED.
"""
from __future__ import annotations

import atexit
import codecs
import csv
import hashlib
import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from submission_samples import (
    MAIN_COLUMNS,
    MAPPING_YAML,
    MEMBER_COLUMNS,
    households,
    jpeg,
    mapping,
    members,
    table_counts,
    write_export,
)

from stdm_plugin.core import Settlement, SettlementStore, expressions, odk_values
from stdm_plugin.core.errors import MappingError, SubmissionValueError
from stdm_plugin.core.forms import EnumerationForm, FormDefinitionError, load_form
from stdm_plugin.core.submission_mapping import FieldMapping
from stdm_plugin.core.submissions import import_submissions

ROOT = Path(__file__).resolve().parents[2]
FORMS = ROOT / "forms"
SHIPPED_MAPPING = FORMS / "mappings" / "kobo_abidjan_2022.yaml"
UTM_30N = 32630
#: examples per property; the long run raises it
EXAMPLES = int(os.environ.get("STDM_FUZZ_EXAMPLES", "120"))
#: inputs tried per property, read by benchmarks/fuzz_run.py
TRIED: Counter = Counter()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
#: a few seconds is already a hang for one small input
SLOW_SECONDS = 10.0


def tried(name: str) -> None:
    TRIED[name] += 1


# --- values hostile to every parser ---------------------------------------------------
HOSTILE_TEXT = [
    "", " ", "\x00", "\ufeff", "\u202e", "🏠", "Koné", "null", "None", "NaN", "inf", "-inf",
    "1e309", "-0", "9" * 400, "=cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "+1+1",
    "-2+3", "@SUM(A1)", "'; DROP TABLE party; --", "\"", "\"\"", "'", "a\nb", "a\r\nb",
    "a\rb", "\t", ";", ",", "%s%s%n", "{0}", "${x}", "../../etc/passwd",
    "..\\..\\windows\\win.ini", "/etc/passwd", "C:\\Windows\\win.ini", "file:///etc/passwd",
    "x" * 5000,
]
hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=60))


def answer_values():
    return st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-10**20, 10**20),
                     hostile_text, st.lists(hostile_text, max_size=4),
                     st.dates().map(lambda d: d.isoformat()))


# --- expressions ----------------------------------------------------------------------
REF_NAMES = ["a", "b", "dob", "x.y", "n-1"]
ATOMS = st.one_of(
    st.integers(0, 10**6).map(str), st.floats(0, 1e6).map(lambda f: f"{f:.3f}"),
    hostile_text.filter(lambda s: "'" not in s).map(lambda s: f"'{s}'"),
    st.sampled_from([f"${{{n}}}" for n in REF_NAMES] + [".", "'inf'", "'nan'", "'-inf'",
                                                        "'1e308'", "'2020-02-30'"]))
FUNCTION_NAMES = sorted(expressions.FUNCTIONS) + ["eval", "__import__", "open", "exec"]
OPERATORS = list(expressions.BINARY)


def _call(name_args):
    name, args = name_args
    return f"{name}({', '.join(args)})"


structured_expressions = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(OPERATORS), inner).map(" ".join),
        inner.map(lambda e: f"-{e}"),
        inner.map(lambda e: f"({e})"),
        st.tuples(st.sampled_from(FUNCTION_NAMES),
                  st.lists(inner, max_size=4)).map(_call),
    ),
    max_leaves=25)
TOKENS = ["(", ")", ",", "${a}", ".", "'x'", "1", "2.5", "-", "+", "*", "div", "mod", "and",
          "or", "=", "!=", "<", ">=", "not(", "regex(", "selected(", "if(", "${", "}", "'",
          '"', "$", "[", "]", "/", "//", "@", "|", "::"]
token_soup = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)
answers = st.dictionaries(st.sampled_from(REF_NAMES), answer_values(), max_size=5)


def check_expression(text: str, values: dict, current) -> None:
    try:
        node = expressions.parse(text)
    except expressions.ExpressionError as exc:
        assert str(exc)
        return
    assert isinstance(node, expressions.Node)
    try:
        result = expressions.holds(text, values, current)
    except expressions.ExpressionError as exc:
        assert str(exc)
        return
    assert isinstance(result, bool)


@FUZZ
@given(st.text(max_size=200), answers, answer_values())
def test_expressions_on_arbitrary_text_parse_or_refuse(text, values, current):
    tried("expressions: arbitrary text")
    check_expression(text, values, current)


@FUZZ
@given(st.one_of(structured_expressions, token_soup), answers, answer_values())
def test_expressions_on_random_expressions_give_a_bool_or_refuse(text, values, current):
    tried("expressions: structured")
    check_expression(text, values, current)


# --- forms ------------------------------------------------------------------------------
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False), hostile_text)
yaml_keys = st.one_of(st.sampled_from(
    ["form_id", "title", "version", "languages", "sections", "record", "name", "repeat",
     "within", "questions", "type", "label", "hint", "choices", "target", "required",
     "constraint", "constraint_message", "relevant", "calculation", "en", "fr"]),
    st.text(max_size=12))
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(yaml_keys, inner, max_size=5)),
    max_leaves=20)
yaml_texts = st.one_of(
    st.text(max_size=300),
    yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(st.sampled_from(["key: value", "- item", "  nested:", "&a x", "*a", "{", "[",
                              "!!python/object/apply:os.system ['true']", "'", "---",
                              "...", "%YAML 1.1", ":", "? x", "\t"]),
             max_size=12).map("\n".join))


def mutate(data, path_choices, value):
    """``data`` with the item at a random path replaced (or deleted when value is ...)."""
    if not isinstance(data, (dict, list)) or not data:
        return value
    container = data
    for choice in path_choices:
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        key = keys[choice % len(keys)]
        child = container[key]
        if isinstance(child, (dict, list)) and child and choice % 3:
            container = child
            continue
        if value is Ellipsis:
            del container[key]
        else:
            container[key] = value
        return data
    return data


mutations = st.tuples(st.lists(st.integers(0, 1000), min_size=1, max_size=6),
                      st.one_of(st.just(Ellipsis), yaml_values))


def check_form(folder: Path) -> None:
    try:
        form = load_form(folder / "enumeration.yaml")
    except FormDefinitionError as exc:
        assert str(exc)
        return
    assert isinstance(form, EnumerationForm)


def _scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="stdm-fuzz-form-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


FORM_DIR = _scratch()


@FUZZ
@given(yaml_texts, yaml_texts)
def test_load_form_on_random_yaml_refuses_clearly(form_text, section_text):
    tried("load_form: random YAML")
    for name in os.listdir(FORM_DIR):
        os.remove(FORM_DIR / name)
    (FORM_DIR / "enumeration.yaml").write_text(form_text, encoding="utf-8")
    (FORM_DIR / "household.yaml").write_text(section_text, encoding="utf-8")
    check_form(FORM_DIR)


SHIPPED_FORM = {p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
                for p in FORMS.glob("*.yaml")}


@FUZZ
@given(st.sampled_from(sorted(SHIPPED_FORM)), st.lists(mutations, min_size=1, max_size=4),
       st.one_of(st.none(), st.integers(0, 4000)))
def test_load_form_on_mutated_shipped_files_refuses_clearly(name, changes, cut):
    tried("load_form: mutated shipped form")
    for old in os.listdir(FORM_DIR):
        os.remove(FORM_DIR / old)
    for other, data in SHIPPED_FORM.items():
        if other != name:
            (FORM_DIR / other).write_text(yaml.safe_dump(data, allow_unicode=True),
                                          encoding="utf-8")
    data = yaml.safe_load(yaml.safe_dump(SHIPPED_FORM[name]))  # a deep copy
    for path_choices, value in changes:
        data = mutate(data, path_choices, value)
    text = yaml.safe_dump(data, allow_unicode=True)
    (FORM_DIR / name).write_text(text if cut is None else text[:cut], encoding="utf-8")
    check_form(FORM_DIR)


# --- field mappings ------------------------------------------------------------------
def check_mapping(text: str) -> None:
    try:
        result = FieldMapping.from_yaml(text)
    except MappingError as exc:
        assert str(exc)
        return
    assert isinstance(result, FieldMapping)
    assert FieldMapping.from_yaml(result.to_yaml()) == result


@FUZZ
@given(yaml_texts)
def test_mapping_from_random_yaml_refuses_clearly(text):
    tried("FieldMapping: random YAML")
    check_mapping(text)


def test_a_mapping_with_number_and_text_keys_is_refused_clearly():
    """Found by the fuzz run: sorting the unknown keys compared 1 with "a"."""
    with pytest.raises(MappingError, match="unknown key"):
        FieldMapping.from_yaml("format: 1\n1: x\nzz: y\n")


MAPPINGS = {"samples": yaml.safe_load(MAPPING_YAML),
            "shipped": yaml.safe_load(SHIPPED_MAPPING.read_text(encoding="utf-8"))}
mapping_keys = st.sampled_from(
    ["format", "form_id", "main", "repeats", "file", "sheet", "key_column",
     "parent_key_column", "parent_link_column", "parent", "records", "type", "columns",
     "field", "values", "required", "constants", "links", "geometry", "media", "kind",
     "column", "document_type", "ignored_columns", "date_formats", "delimiter", "name"])
mapping_values = st.recursive(
    st.one_of(yaml_scalars, mapping_keys,
              st.sampled_from(["household", "person", "parcel", "structure", "tenure",
                               "group", "main", "members", "geoshape", "geopoint",
                               "geotrace", "photo", "id_scan", "boundary", "location",
                               "party_id", "%Y-%m-%d", "%", "*.csv", "../../x.csv"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(mapping_keys, st.text(max_size=8)),
                                            inner, max_size=4)),
    max_leaves=12)


@FUZZ
@given(st.sampled_from(sorted(MAPPINGS)),
       st.lists(st.tuples(st.lists(st.integers(0, 1000), min_size=1, max_size=6),
                          st.one_of(st.just(Ellipsis), mapping_values)),
                min_size=1, max_size=4),
       st.one_of(st.none(), st.integers(0, 3000)))
def test_mapping_from_mutated_mappings_refuses_clearly(name, changes, cut):
    tried("FieldMapping: mutated mapping")
    data = yaml.safe_load(yaml.safe_dump(MAPPINGS[name]))
    for path_choices, value in changes:
        data = mutate(data, path_choices, value)
    text = yaml.safe_dump(data, allow_unicode=True)
    check_mapping(text if cut is None else text[:cut])


# --- ODK answers ---------------------------------------------------------------------
number_soup = st.lists(st.sampled_from(["5.3", "-3.95", "12", "0", "90.1", "-180.5", "1e400",
                                        "nan", "inf", " ", ";", "/", "", "x", "-", "."]),
                       max_size=30).map("".join)
odk_text = st.one_of(hostile_text, number_soup, st.text(max_size=120))
DATE_FORMATS = st.lists(st.sampled_from(["%Y-%m-%d", "%d/%m/%Y", "%Y", "%z", "%H:%M", "%%",
                                         "%b %d %Y", "%f", "%"]), max_size=3)


def refused_or(call, check=lambda value: True):
    try:
        value = call()
    except SubmissionValueError as exc:
        assert str(exc) and exc.kind
        return
    assert check(value)


@FUZZ
@given(odk_text, st.sampled_from(["geopoint", "geotrace", "geoshape"]), st.booleans(),
       st.sampled_from([4326, UTM_30N]))
def test_odk_geometries_parse_or_refuse(value, kind, polygon, srid):
    tried("odk_values: geometry")
    refused_or(lambda: odk_values.odk_points(value, column="c"),
               lambda points: all(len(p) == 2 for p in points))
    refused_or(lambda: odk_values.odk_geometry(value, kind, column="c", srid=srid,
                                               polygon=polygon),
               lambda shape: shape is None or shape.is_valid)


@FUZZ
@given(odk_text, DATE_FORMATS, st.dictionaries(hostile_text, answer_values(), max_size=3))
def test_odk_answers_parse_or_refuse(value, formats, choices):
    tried("odk_values: answers")
    assert isinstance(odk_values.instance_id(value), str)
    refused_or(lambda: odk_values.choice(value, choices, column="c"))
    refused_or(lambda: odk_values.whole_number(value, column="c"),
               lambda n: isinstance(n, int))
    refused_or(lambda: odk_values.share(value, column="c"),
               lambda s: 0 < s[0] <= s[1])
    refused_or(lambda: odk_values.date_value(value, formats, column="c"),
               lambda d: isinstance(d, str))
    refused_or(lambda: odk_values.timestamp(value, column="c"),
               lambda t: isinstance(t, str))


# --- importing exports ------------------------------------------------------------------
SECRET = b"outside the media folder: must never be read"
#: replaced by the absolute path of a folder outside the media folder when written
OUTSIDE = "{OUTSIDE}"
TRAVERSAL = ["../secret.jpg", "../../secret.jpg", "..\\secret.jpg", "media/../secret.jpg",
             f"{OUTSIDE}/secret.jpg", "secret.jpg/..", "..", ".", "/", "\x00secret.jpg",
             "~/secret.jpg", "house-0.jpg/../../secret.jpg"]
TRAVERSAL_KEYS = ["uuid:..", "uuid:../..", "..", "uuid:" + OUTSIDE, OUTSIDE, "uuid:/",
                  "uuid:~", "uuid:.", "uuid:" + "../" * 8 + "tmp"]
cell_values = st.one_of(hostile_text, st.sampled_from(TRAVERSAL),
                        st.sampled_from(TRAVERSAL_KEYS),
                        st.integers(1, 200_000).map(lambda n: "y" * n))
cell_edits = st.lists(st.tuples(st.booleans(), st.integers(0, 100), st.integers(0, 100),
                                cell_values), max_size=5)
ENCODINGS = ["cp1252", "latin-1", "utf-16", "utf-16-be", "utf-32", "mac_roman", "cp437"]
byte_edits = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1)),
    st.tuples(st.just("encoding"), st.sampled_from(ENCODINGS)),
    st.tuples(st.just("replace"), st.binary(max_size=300)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=20)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                        min_size=1, max_size=8)),
    st.tuples(st.just("header"), st.sampled_from(["drop", "twice", "blank", "quote"]),
              st.integers(0, 20)),
)
#: a file left whole three times in four, so that the rows' cells get read too
maybe_byte_edit = st.tuples(st.integers(0, 3), byte_edits).map(
    lambda pick: pick[1] if pick[0] == 0 else None)


class ImportTarget:
    """One SpatiaLite store for every import example (made on first use)."""

    store = None
    folder = None
    serial = 0

    @classmethod
    def get(cls):
        if cls.store is None:
            cls.folder = Path(tempfile.mkdtemp(prefix="stdm-fuzz-import-"))
            cls.store = SettlementStore.create(cls.folder / "fuzz.sqlite", UTM_30N,
                                               actor="fuzzer")
            cls.store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))
            atexit.register(cls.close)
        return cls.store

    @classmethod
    def close(cls):
        if cls.store is not None:
            cls.store.close()
            cls.store = None
            shutil.rmtree(cls.folder, ignore_errors=True)


def _fresh_rows(count: int):
    """Sample rows with keys no earlier example used, so each import is a new one."""
    ImportTarget.serial += 1
    main_rows = households(count)
    for i, row in enumerate(main_rows):
        key = f"uuid:{uuid.UUID(int=10**9 + ImportTarget.serial * 100 + i)}"
        row["KEY"] = row["meta-instanceID"] = key
    return main_rows, members(main_rows)


def _edit_bytes(path: str, edit) -> None:
    if edit is None:
        return
    data = Path(path).read_bytes()
    if edit[0] == "cut":
        data = data[:int(len(data) * edit[1])]
    elif edit[0] == "encoding":
        data = codecs.encode(data.decode("utf-8"), edit[1], errors="replace")
    elif edit[0] == "replace":
        data = edit[1]
    elif edit[0] == "insert":
        at = int(len(data) * edit[1])
        data = data[:at] + edit[2] + data[at:]
    elif edit[0] == "flip":
        data = bytearray(data)
        for where, byte in edit[1]:
            if data:
                data[min(int(len(data) * where), len(data) - 1)] = byte
        data = bytes(data)
    else:
        lines = data.split(b"\r\n", 1)
        header = next(csv.reader([lines[0].decode("utf-8")]))
        column = edit[2] % len(header)
        if edit[1] == "drop":
            del header[column]
        elif edit[1] == "twice":
            header.append(header[column])
        elif edit[1] == "blank":
            header[column] = ""
        else:
            header[column] = f'"{header[column]}'
        text = ",".join(f'"{h}"' if edit[1] != "quote" else h for h in header)
        data = text.encode("utf-8") + b"\r\n" + (lines[1] if len(lines) > 1 else b"")
    Path(path).write_bytes(data)


def _stored_secret(store) -> int:
    digest = hashlib.sha256(SECRET).hexdigest()
    return store.db.scalar("SELECT count(*) FROM supporting_document WHERE sha256 = ?",
                           (digest,))


def check_import(count, edits, file_edits, mode, traversal=False) -> None:
    store = ImportTarget.get()
    main_rows, member_rows = _fresh_rows(count)
    folder = Path(tempfile.mkdtemp(prefix="stdm-fuzz-export-"))
    photos = [row[c] for row in [*main_rows, *member_rows] for c in ("house_photo", "id_photo")
              if row.get(c)]
    try:
        outside = folder / "outside"
        outside.mkdir()
        for place in (folder, outside):
            (place / "secret.jpg").write_bytes(SECRET)
        for in_main, row_choice, column_choice, value in edits:
            rows, columns = (main_rows, MAIN_COLUMNS) if in_main else (member_rows,
                                                                       MEMBER_COLUMNS)
            if rows:
                value = value.replace(OUTSIDE, str(outside))
                rows[row_choice % len(rows)][columns[column_choice % len(columns)]] = value
        (folder / "export").mkdir()
        files, media = write_export(folder / "export", main_rows, member_rows, media=False)
        for photo in photos:  # the export's own photos, not the hostile names
            Path(media, photo).write_bytes(jpeg(photo))
        for path, edit in zip(files, file_edits):
            _edit_bytes(path, edit)
        before = table_counts(store)
        report = import_submissions(store, files, mapping(), mode=mode, media_dir=media)
        after = table_counts(store)
        assert _stored_secret(store) == 0, "a file outside the media folder was read"
        for problem in report.problems:
            assert problem.reason and problem.kind
        if mode == "all_or_nothing" and report.problems:
            assert not report.written and after == before
        if not report.problems:
            assert report.imported + report.skipped == report.submissions_seen
        if traversal:  # the hostile name is refused as a file not in the media folder
            assert any(p.kind == "missing_media" and p.field == "house_photo"
                       for p in report.problems), report.problems
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@settings(FUZZ, max_examples=max(EXAMPLES // 2, 20))
@given(st.integers(0, 3), cell_edits, st.tuples(maybe_byte_edit, maybe_byte_edit),
       st.sampled_from(["all_or_nothing", "all_or_nothing", "valid_rows"]))
def test_import_of_mutated_exports_never_raises_nor_writes_partially(count, edits,
                                                                      file_edits, mode):
    tried("import_submissions: mutated CSV export")
    check_import(count, edits, file_edits, mode)


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))
@given(st.sampled_from(TRAVERSAL), st.sampled_from(TRAVERSAL_KEYS),
       st.sampled_from(["house_photo", "KEY"]))
def test_media_names_never_reach_outside_the_media_folder(name, key, where):
    tried("import_submissions: traversal media names")
    edits = [(True, 0, MAIN_COLUMNS.index("house_photo"), name)]
    if where == "KEY":  # the members keep pointing at it, so the submission is whole
        # "/<new folder>/.." leads where the key led, but makes the key one no earlier
        # example imported (an imported key is skipped, and nothing would be checked)
        key = f"{key}/{uuid.uuid4().hex}/.."
        edits += [(True, 0, MAIN_COLUMNS.index("KEY"), key)] + [
            (False, j, MEMBER_COLUMNS.index("PARENT_KEY"), key) for j in range(2)]
    check_import(1, edits, (None, None), "valid_rows", traversal=True)


# --- the refusals the fuzzing found ----------------------------------------------------
def test_a_submission_key_naming_another_folder_cannot_pick_a_file_outside_media(
        tmp_path):
    """KoBo's per-submission media folders are named by the key; a key like
    ``uuid:../..`` once made the importer read a file two folders up."""
    store = SettlementStore.create(tmp_path / "own.sqlite", UTM_30N, actor="tester")
    store.settlements.add(Settlement(code="KOU", name="Koumassi Campement"))
    main_rows, member_rows = _fresh_rows(1)
    (tmp_path / "secret.jpg").write_bytes(SECRET)
    main_rows[0]["KEY"] = "uuid:.."
    main_rows[0]["house_photo"] = "secret.jpg"
    for row in member_rows:
        row["PARENT_KEY"] = "uuid:.."
    (tmp_path / "export").mkdir()
    files, media = write_export(tmp_path / "export", main_rows, member_rows, media=False)
    before = table_counts(store)
    report = import_submissions(store, files, mapping(), media_dir=tmp_path / "export")
    [problem] = [p for p in report.problems if p.field == "house_photo"]
    assert problem.kind == "missing_media" and "'secret.jpg' is not in the media folder" \
        in problem.reason
    assert _stored_secret(store) == 0 and table_counts(store) == before
    store.close()


def test_expression_nesting_beyond_any_form_is_refused():
    # short enough to pass the length cap, so the nesting limit is what refuses them
    for text in ("(" * 120 + "1" + ")" * 120, "-" * 300 + "1", "not(" * 120 + "1"):
        try:
            expressions.holds(text, {})
        except expressions.ExpressionError as exc:
            assert "nested" in str(exc)
        else:
            raise AssertionError(f"{text[:20]}... was accepted")
    for text in ("(" * 5000 + "1" + ")" * 5000, "-" * 5000 + "1", "not(" * 3000 + "1"):
        with pytest.raises(expressions.ExpressionError):
            expressions.holds(text, {})



def test_int_of_an_infinite_answer_is_not_a_crash():
    """int() once raised OverflowError for an answer such as '1e999' or 'inf'."""
    assert expressions.holds("int(.) > 1000", {}, "1e999")
    assert not expressions.holds("int(${a}) = 1", {"a": "-inf"})
    assert not expressions.holds("int('nan') = 0", {})
    assert expressions.holds("int(-2.7) = -2", {})


def test_form_files_of_the_wrong_shape_are_refused_not_crashed(tmp_path):
    """load_form once raised AttributeError/TypeError on these."""
    for name, data in SHIPPED_FORM.items():
        (tmp_path / name).write_text(yaml.safe_dump(data, allow_unicode=True),
                                     encoding="utf-8")
    form = tmp_path / "enumeration.yaml"
    settings_data = yaml.safe_load(form.read_text(encoding="utf-8"))
    household = yaml.safe_load((tmp_path / "household.yaml").read_text(encoding="utf-8"))
    first = household["questions"][0]
    cases = [
        ("enumeration.yaml", "", "a form file holds a mapping"),
        ("enumeration.yaml", "- sections\n", "a form file holds a mapping"),
        ("enumeration.yaml", yaml.safe_dump({**settings_data, "languages": "en"}),
         "languages must be a list"),
        ("enumeration.yaml", yaml.safe_dump({**settings_data, "sections": ["../household"]}),
         "sections must be names"),
        ("household.yaml", yaml.safe_dump({**household, "record": ["party"]}),
         "record must be text"),
        ("household.yaml", yaml.safe_dump({**household, "questions": 3}),
         "questions must be a list"),
        ("household.yaml", yaml.safe_dump({**household, "questions": [
            {**first, "choices": {"a": 1}}]}), "choices must be text"),
    ]
    for file, text, words in cases:
        original = (tmp_path / file).read_text(encoding="utf-8")
        (tmp_path / file).write_text(text, encoding="utf-8")
        try:
            load_form(form)
        except FormDefinitionError as exc:
            assert words in str(exc), (file, text, str(exc))
        else:
            raise AssertionError(f"{file} was accepted: {text!r}")
        (tmp_path / file).write_text(original, encoding="utf-8")
    assert isinstance(load_form(form), EnumerationForm)


def test_a_link_to_a_list_is_refused_not_crashed():
    """FieldMapping once raised TypeError (unhashable list) for ``links: {x: []}``;
    the short fuzz run found it."""
    data = yaml.safe_load(MAPPING_YAML)
    data["main"]["records"][3]["links"]["party_id"] = []
    try:
        FieldMapping.from_dict(data)
    except MappingError as exc:
        assert "main > records[4] > links: expected texts for keys and values" in str(exc)
    else:
        raise AssertionError("a list as a link target was accepted")
