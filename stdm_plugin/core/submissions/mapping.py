"""The field mapping that says how one form's exported submissions become records.

A form not made by the plugin (the Abidjan survey, a partner's KoBo form)
is mapped once, saved as YAML beside the project, and reused for every
later export of that form: which file is the main table and which are
repeat groups, how rows join, which record each row becomes, which
column feeds which model field, how choice codes translate to the
store's code lists. Columns the mapping does not take are not lost: the
importer keeps them as JSON with the record.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..store.errors import MappingError
from ..store.model import Party, SocialTenure, SpatialUnit

FORMAT = 1
#: record type -> (table, party_type or spatial unit kind)
RECORD_TYPES: dict[str, tuple[str, Optional[str]]] = {
    "household": ("party", "household"),
    "group": ("party", "group"),
    "person": ("party", "person"),
    "parcel": ("spatial_unit", "parcel"),
    "structure": ("spatial_unit", "structure"),
    "tenure": ("social_tenure", None),
}
#: fields the importer sets itself, or that come from links and geometry rules
MANAGED_FIELDS = {"party_type", "kind", "submission_id", "answers", "anonymised",
                  "needs_mapping", "group_party_id", "party_id", "spatial_unit_id",
                  "parcel_id", "settlement_id", "boundary", "location", "seq", "code",
                  "area_m2"}
#: fields that are not model columns but are read into them
EXTRA_FIELDS = {"spatial_unit": ("settlement_code",), "social_tenure": ("share",)}
MODEL_CLASSES = {"party": Party, "spatial_unit": SpatialUnit, "social_tenure": SocialTenure}
#: record type -> link field -> the record types it may point at
LINKS: dict[str, dict[str, tuple[str, ...]]] = {
    "person": {"group_party_id": ("household", "group")},
    "structure": {"parcel_id": ("parcel",)},
    "tenure": {"party_id": ("household", "group", "person"),
               "spatial_unit_id": ("parcel", "structure")},
}
REQUIRED_LINKS = {"tenure": ("party_id", "spatial_unit_id")}
GEOMETRY_KINDS = {"geopoint": ("location",), "geotrace": ("boundary",),
                  "geoshape": ("boundary",)}


@dataclass
class ColumnRule:
    """One exported column read into one model field."""

    field: str
    #: answer -> model code; a null code keeps the answer in ``answers`` instead
    values: dict[str, Optional[str]] = dataclasses.field(default_factory=dict)
    required: bool = False
    #: accepted date formats for this column (strptime), else the mapping's
    date_formats: list[str] = dataclasses.field(default_factory=list)
    #: also keep the raw answer in ``answers`` (when the code list is coarser)
    keep_original: bool = False


@dataclass
class GeometryRule:
    column: str
    kind: str  # geopoint | geotrace | geoshape
    field: str  # location | boundary
    required: bool = False


@dataclass
class MediaRule:
    """A photo or file question: its answer is a file name in the media folder."""

    column: str
    document_type: str = "photo"
    required: bool = False


@dataclass
class RecordMapping:
    """One record a row becomes; ``name`` is how other records link to it."""

    type: str
    name: str = ""
    columns: dict[str, ColumnRule] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    #: link field -> name of a record of the same row or of a parent row
    links: dict[str, str] = field(default_factory=dict)
    geometry: list[GeometryRule] = field(default_factory=list)
    media: list[MediaRule] = field(default_factory=list)
    #: made only when this column is answered (a member who claims no right)
    only_if: Optional[str] = None

    @property
    def ref(self) -> str:
        return self.name or self.type

    @property
    def table(self) -> str:
        return RECORD_TYPES[self.type][0]


@dataclass
class TableMapping:
    """The main table or one repeat group: which file, how it joins, what rows become."""

    name: str = "main"
    file: str = ""  # the file's name, or a glob such as "*-members.csv"
    sheet: Optional[str] = None
    key_column: Optional[str] = None
    parent: Optional[str] = None
    parent_key_column: Optional[str] = None
    #: the parent table's column the parent key refers to (default: its key column)
    parent_link_column: Optional[str] = None
    ignored_columns: list[str] = field(default_factory=list)
    delimiter: Optional[str] = None
    records: list[RecordMapping] = field(default_factory=list)


@dataclass
class FieldMapping:
    form_id: str
    main: TableMapping
    repeats: list[TableMapping] = field(default_factory=list)
    #: the export carries no names: parties are flagged anonymised
    anonymised: bool = False
    date_formats: list[str] = field(default_factory=lambda: ["%Y-%m-%d"])
    submitted_at_column: Optional[str] = None
    form_version_column: Optional[str] = None
    media_storage: str = "embedded"
    description: str = ""

    def __post_init__(self) -> None:
        for repeat in self.repeats:  # a repeat without a parent hangs from the main table
            if repeat.parent is None:
                repeat.parent = self.main.name

    # --- shape ---------------------------------------------------------------
    @property
    def tables(self) -> list[TableMapping]:
        return [self.main, *self.repeats]

    def table(self, name: str) -> TableMapping:
        for table in self.tables:
            if table.name == name:
                return table
        raise MappingError(f"no table named {name!r}")

    def ancestors(self, table: TableMapping) -> list[TableMapping]:
        """The table's parent, grandparent... up to the main table."""
        chain = []
        while table.parent:
            table = self.table(table.parent)
            chain.append(table)
        return chain

    def check(self) -> "FieldMapping":
        """Refuse a mapping that could not work, before any file is read."""
        _check(self)
        return self

    # --- YAML ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **_plain(self)}

    @classmethod
    def from_dict(cls, data: Any, where: str = "mapping") -> "FieldMapping":
        if not isinstance(data, dict):
            raise MappingError("a mapping is a YAML mapping of keys to values", where=where)
        data = dict(data)
        version = data.pop("format", FORMAT)
        if version != FORMAT:
            raise MappingError(f"format {version!r} is not known (this plugin reads {FORMAT})",
                               where=where)
        return _build(cls, data, where).check()

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True,
                              width=100)

    @classmethod
    def from_yaml(cls, text: str, where: str = "mapping") -> "FieldMapping":
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError(f"not readable YAML: {exc}", where=where) from exc
        return cls.from_dict(data, where)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_yaml())

    @classmethod
    def load(cls, path: str) -> "FieldMapping":
        with open(path, encoding="utf-8") as handle:
            return cls.from_yaml(handle.read(), where=str(path))


# --- to and from plain data ---------------------------------------------------------
def _plain(obj: Any) -> Any:
    """A dataclass as YAML-ready data, leaving out what equals its default."""
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else f.default)
            if value != default:  # a required field's default is MISSING: always kept
                out[f.name] = _plain(value)
        if isinstance(obj, ColumnRule) and list(out) == ["field"]:
            return obj.field  # "Sex: sex" reads better than a one-key mapping
        return out
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


#: where a mapping holds other parts: (class, key) -> ("one" | "list" | "by_column", part)
NESTED: dict[tuple[type, str], tuple[str, type]] = {
    (FieldMapping, "main"): ("one", TableMapping),
    (FieldMapping, "repeats"): ("list", TableMapping),
    (TableMapping, "records"): ("list", RecordMapping),
    (RecordMapping, "geometry"): ("list", GeometryRule),
    (RecordMapping, "media"): ("list", MediaRule),
    (RecordMapping, "columns"): ("by_column", ColumnRule),
}
#: the plain value each annotated field takes, so that `required: "no"` is not read as true
SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,), "bool": (bool,), "Optional[str]": (str, type(None)),
    "list[str]": (list,), "dict[str, str]": (dict,), "dict[str, Any]": (dict,),
}


def _build(cls: type, data: Any, where: str) -> Any:
    """A mapping part from YAML data, refusing unknown keys and values of the wrong kind."""
    if cls is ColumnRule and isinstance(data, str):
        data = {"field": data}
    if not isinstance(data, dict):
        raise MappingError(f"expected keys and values, found {data!r}", where=where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - set(fields))  # YAML keys may be numbers
    if unknown:
        raise MappingError(f"unknown key(s) {', '.join(unknown)} (known: "
                           f"{', '.join(sorted(fields))})", where=where)
    values = {}
    for key, value in data.items():
        inner = f"{where} > {key}"
        shape, part = NESTED.get((cls, key), ("plain", type(None)))
        if value is None and shape != "plain":
            continue
        if shape == "list":
            _expect(value, list, inner)
            value = [_build(part, v, f"{inner}[{i + 1}]") for i, v in enumerate(value)]
        elif shape == "by_column":
            _expect(value, dict, inner)
            value = {_text_key(k, inner): _build(part, v, f"{inner} > {k}")
                     for k, v in value.items()}
        elif shape == "one":
            value = _build(part, value, inner)
        elif key == "values":
            _expect(value, dict, inner)
            value = {_text_key(k, inner): None if v is None else _text_key(v, inner)
                     for k, v in value.items()}
        else:
            _check_plain(fields[key].type, value, inner)
        values[key] = value
    missing = [name for name, f in fields.items() if name not in values
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise MappingError(f"missing key(s) {', '.join(missing)}", where=where)
    return cls(**values)


def _check_plain(annotation: Any, value: Any, where: str) -> None:
    wanted = SCALARS.get(str(annotation))
    if wanted is not None and not isinstance(value, wanted):
        raise MappingError(f"expected {annotation}, found {value!r}", where=where)
    if str(annotation) == "list[str]" and not all(isinstance(v, str) for v in value):
        raise MappingError(f"expected a list of texts, found {value!r}", where=where)
    if str(annotation) == "dict[str, str]" and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise MappingError(f"expected texts for keys and values, found {value!r}",
                           where=where)


def _expect(value: Any, kind: type, where: str) -> None:
    if not isinstance(value, kind):
        raise MappingError(f"expected a {'list' if kind is list else 'mapping'}, found "
                           f"{value!r}", where=where)


def _text_key(key: Any, where: str) -> str:
    """Answers are text; YAML reads yes/no/on/off as booleans, so those must be quoted."""
    if isinstance(key, bool) or key is None or isinstance(key, float):
        raise MappingError(f"{key!r} was read as a {type(key).__name__}, not as text; put the "
                           "answer in quotes (for example 'yes' or '1.5')", where=where)
    return str(key)


# --- consistency ----------------------------------------------------------------------
def allowed_fields(table: str) -> list[str]:
    names = [n for n in MODEL_CLASSES[table].data_fields() if n not in MANAGED_FIELDS]
    return [*names, *EXTRA_FIELDS.get(table, ())]


def _check(mapping: FieldMapping) -> None:
    if not str(mapping.form_id or "").strip():
        raise MappingError("form_id is empty: name the form (its XLSForm form_id)")
    if mapping.media_storage not in ("embedded", "folder"):
        raise MappingError(f"media_storage must be 'embedded' or 'folder', not "
                           f"{mapping.media_storage!r}")
    if not mapping.main.key_column:
        raise MappingError("the main table needs its key_column (KEY, meta/instanceID or "
                           "_uuid): it is how a second import of the same export is recognised",
                           where="main")
    if mapping.main.parent:
        raise MappingError("the main table has no parent", where="main")
    seen: list[str] = []
    for table in mapping.tables:
        where = table.name
        if not table.file:
            raise MappingError("say which file holds this table (file: its name or a glob)",
                               where=where)
        if table.name in seen:
            raise MappingError("two tables have this name", where=where)
        if table is not mapping.main:
            if table.parent not in seen:
                raise MappingError(f"parent {table.parent!r} must be a table declared before "
                                   "this one", where=where)
            if not table.parent_key_column:
                raise MappingError("a repeat needs parent_key_column (PARENT_KEY, "
                                   "_parent_index...)", where=where)
            parent = mapping.table(table.parent)  # type: ignore[arg-type]
            if not (table.parent_link_column or parent.key_column):
                raise MappingError(f"say which column of {parent.name!r} the parent key "
                                   "refers to (parent_link_column)", where=where)
        seen.append(table.name)
        if not table.records:
            raise MappingError("the table becomes no record; map it to at least one",
                               where=where)
        _check_records(mapping, table)


def _check_records(mapping: FieldMapping, table: TableMapping) -> None:
    visible: dict[str, str] = {}
    for ancestor in reversed(mapping.ancestors(table)):
        visible.update({r.ref: r.type for r in ancestor.records})
    own: set[str] = set()
    for record in table.records:
        where = f"{table.name} > {record.ref}"
        if record.type not in RECORD_TYPES:
            raise MappingError(f"unknown record type {record.type!r} (known: "
                               f"{', '.join(RECORD_TYPES)})", where=where)
        if record.ref in own:
            raise MappingError("two records of this table have this name; give each a "
                               "name", where=where)
        allowed = allowed_fields(record.table)
        for name in [*(r.field for r in record.columns.values()), *record.constants]:
            if name not in allowed:
                raise MappingError(f"{name!r} is not a field of a {record.type} (known: "
                                   f"{', '.join(allowed)})", where=where)
        links = LINKS.get(record.type, {})
        for link, target in record.links.items():
            if link not in links:
                raise MappingError(f"a {record.type} has no link {link!r} (known: "
                                   f"{', '.join(links) or 'none'})", where=where)
            target_type = visible.get(target)
            if target_type not in links[link]:
                raise MappingError(
                    f"{link} must name a {' or '.join(links[link])} record of this row or a "
                    f"parent row, not {target!r}", where=where)
        for link in REQUIRED_LINKS.get(record.type, ()):
            if link not in record.links:
                raise MappingError(f"a {record.type} needs the link {link}", where=where)
        for rule in record.geometry:
            if record.table != "spatial_unit":
                raise MappingError("only parcels and structures take geometries; leave "
                                   f"{rule.column!r} unmapped to keep it in answers",
                                   where=where)
            if rule.field not in GEOMETRY_KINDS.get(rule.kind, ()):
                raise MappingError(f"a {rule.kind} cannot fill {rule.field!r} (a geopoint "
                                   "fills location, a geoshape boundary)", where=where)
        if record.table == "spatial_unit" and not record.geometry:
            raise MappingError(f"a {record.type} needs a geometry rule (a {record.type} "
                               "without a shape is not imported; its household is flagged "
                               "for mapping)", where=where)
        if record.type == "parcel" and not any(g.field == "boundary" for g in record.geometry):
            raise MappingError("a parcel needs a geometry rule for its boundary", where=where)
        if record.table == "spatial_unit" and "settlement_code" not in {
                *(r.field for r in record.columns.values()), *record.constants}:
            raise MappingError("a spatial unit needs its settlement_code (a constant or a "
                               "column)", where=where)
        own.add(record.ref)
        visible[record.ref] = record.type
