"""Field mappings: saved as YAML, loaded back equal, and refused when they cannot work."""
import pytest
from submission_samples import MAPPING_YAML, mapping

from stdm_plugin.core.store.errors import MappingError
from stdm_plugin.core.submissions.mapping import (
    ColumnRule,
    FieldMapping,
    RecordMapping,
    TableMapping,
)


def test_a_mapping_saves_to_yaml_and_loads_back_equal(tmp_path):
    original = mapping()
    path = tmp_path / "enumeration.yaml"
    original.save(path)
    loaded = FieldMapping.load(path)
    assert loaded == original
    assert loaded.repeats[0].records[0].columns["sex"].values == {"M": "male", "F": "female"}
    assert "first_name: first_name" in path.read_text(encoding="utf-8")  # short form kept


def test_a_mapping_made_in_code_round_trips_with_awkward_answers(tmp_path):
    made = FieldMapping(
        form_id="survey", anonymised=True, date_formats=["%d/%m/%Y"],
        main=TableMapping(file="survey.csv", key_column="KEY", ignored_columns=[""], records=[
            RecordMapping(type="household", columns={
                "nom": ColumnRule(field="group_name", required=True),
                "remarque": ColumnRule(field="remarks", values={
                    "yes": "oui", "no": None, "1": "un", "Année": "année"})})]))
    path = tmp_path / "survey.yaml"
    made.save(path)
    assert FieldMapping.load(path) == made


@pytest.mark.parametrize("change,words", [
    (("field: sex", "field: gender"), "'gender' is not a field of a person"),
    (("{M: male, F: female}", "{yes: male, F: female}"), "put the answer in quotes"),
    (("type: tenure", "type: lease"), "unknown record type 'lease'"),
    (("spatial_unit_id: parcel", "spatial_unit_id: household"), "must name a parcel or"),
    (("key_column: KEY\n  ignored", "ignored"), "needs its key_column"),
    (("kind: geopoint, field: location", "kind: geopoint, field: boundary"),
     "a geopoint cannot fill 'boundary'"),
    (("form_id: stdm_enumeration", "form_id: x\ncolour: blue"), "unknown key(s) colour"),
    (("parent_key_column: PARENT_KEY", "parent_key: PARENT_KEY"), "unknown key(s) parent_key"),
    (("{field: group_name, required: true}", "{field: group_name, required: 'no'}"),
     "expected bool, found 'no'"),
])
def test_a_mapping_that_cannot_work_is_refused_saying_where(change, words):
    old, new = change
    assert old in MAPPING_YAML
    with pytest.raises(MappingError) as info:
        FieldMapping.from_yaml(MAPPING_YAML.replace(old, new, 1))
    assert words in str(info.value)


def test_the_shipped_abidjan_mapping_loads_and_round_trips():
    from test_submissions_abidjan import MAPPING_PATH

    shipped = FieldMapping.load(MAPPING_PATH)
    assert shipped.anonymised and shipped.form_id == "Abidjan_2022"
    assert FieldMapping.from_yaml(shipped.to_yaml()) == shipped
