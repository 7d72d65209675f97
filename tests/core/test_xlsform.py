"""The XLSForm export, judged by ODK's own converter pyxform.

pyxform is what KoBoToolbox and ODK Central run on an uploaded form, so a clean
conversion here (no error, no warning) is the closest check to "the phones
accept it" that needs no network and no Java (ODK Validate is not used).
"""
from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pyxform.xls2xform import convert

from stdm_plugin.core.forms.forms import EnumerationForm, load_form
from stdm_plugin.core.forms.xlsform import (
    XLSFormExportError,
    code_lists_from_store,
    default_code_lists,
    export_xlsform,
)

FORMS = Path(__file__).resolve().parents[2] / "forms"
XF = "{http://www.w3.org/2002/xforms}"
JR = "{http://openrosa.org/javarosa}"
NS = {"x": XF[1:-1]}
EN, FR = "English (en)", "French (fr)"


def to_xform(path: Path) -> ET.Element:
    """Convert as a server would; any warning is a failure, not noise."""
    result = convert(str(path), validate=False)
    assert result.warnings == []
    return ET.fromstring(result.xform)


def sheet(path: Path, name: str) -> list[dict[str, str | None]]:
    rows = list(load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def translations(xform: ET.Element) -> dict[str, dict[str, str]]:
    """language -> itext id -> text."""
    return {t.get("lang"): {text.get("id"): text.findtext("x:value", namespaces=NS)
                            for text in t.findall("x:text", NS)}
            for t in xform.iter(f"{XF}translation")}


def binds(xform: ET.Element) -> dict[str, dict[str, str]]:
    return {bind.get("nodeset"): dict(bind.attrib) for bind in xform.iter(f"{XF}bind")}


@pytest.fixture(scope="module")
def form() -> EnumerationForm:
    return load_form(FORMS / "enumeration.yaml")


@pytest.fixture(scope="module")
def exported(form, tmp_path_factory) -> Path:
    return export_xlsform(form, tmp_path_factory.mktemp("xlsform") / "enumeration.xlsx")


@pytest.fixture(scope="module")
def xform(exported) -> ET.Element:
    return to_xform(exported)


def test_members_repeat_holds_each_members_tenure_claim(xform):
    body = xform.find("{http://www.w3.org/1999/xhtml}body")
    repeat = body.find("x:group[@ref='/data/members']/x:repeat[@nodeset='/data/members']", NS)
    assert repeat is not None
    tenure = repeat.find("x:group[@ref='/data/members/tenure']", NS)
    assert tenure is not None
    # the claim comes after the member's own questions, as the wizard asks it
    refs = [child.get("ref") for child in repeat]
    assert refs.index("/data/members/tenure") == len(refs) - 1
    assert tenure.find("x:select1[@ref='/data/members/tenure/tenure_type']", NS) is not None


def test_choices_and_labels_in_english_and_french(xform):
    texts = translations(xform)
    assert set(texts) == {EN, FR}
    owner = [key for key, value in texts[EN].items() if value == "Owner"]
    assert owner and texts[FR][owner[0]] == "Propriétaire"
    assert texts[FR]["/data/members/age_years:label"] == "Âge en années"
    items = xform.findall(".//x:instance[@id='tenure_type']/x:root/x:item", NS)
    assert [item.findtext("x:name", namespaces=NS) for item in items][:2] == [
        "owner", "co_owner"]


def test_rules_become_bindings(xform):
    bound = binds(xform)
    age = bound["/data/members/age_years"]
    assert age["type"] == "int"
    assert age["required"] == "true()"
    assert age["constraint"] == ". >= 0 and . <= 130"
    assert "../date_of_birth" in age["relevant"]
    assert bound["/data/parcel/parcel_boundary"]["type"] == "geoshape"
    assert bound["/data/members/id_photo"]["type"] == "binary"
    assert bound["/data/members/tenure/share_denominator"]["constraint"].strip().endswith(
        "../share_numerator")
    assert bound["/data/start"][f"{JR}preloadParams"] == "start"
    instance = xform.find(".//x:instance/x:data", NS)
    assert instance.findtext("x:members/x:tenure/x:share_numerator", namespaces=NS) == "1"


def test_survey_columns_are_the_xlsform_ones(exported):
    header = next(load_workbook(exported, read_only=True)["survey"].iter_rows(values_only=True))
    assert list(header) == [
        "type", "name", f"label::{EN}", f"label::{FR}", f"hint::{EN}", f"hint::{FR}",
        "required", "relevant", "constraint", f"constraint_message::{EN}",
        f"constraint_message::{FR}", "calculation", "default", "appearance", "parameters"]
    types = [row["type"] for row in sheet(exported, "survey")]
    assert types[:3] == ["start", "end", "begin_group"]
    assert "begin_repeat" in types and "select_one tenure_type" in types


def test_settings_name_the_form_and_its_version(exported, xform):
    settings = sheet(exported, "settings")
    assert settings == [{"form_title": "Household and tenure enumeration",
                         "form_id": "stdm_enumeration", "version": "2026112501",
                         "default_language": EN,
                         "instance_name": "${household_name}"}]
    data = xform.find(".//x:instance/x:data", NS)
    assert (data.get("id"), data.get("version")) == ("stdm_enumeration", "2026112501")


def test_user_extended_code_lists_go_out(store, form, tmp_path):
    store.lookups.add_value("tenure_type", "usufruct", {"en": "Usufruct", "fr": "Usufruit"})
    store.lookups.add_value("sex", "intersex", {"en": "Intersex"})
    lists = code_lists_from_store(store, form.languages)
    path = export_xlsform(form, tmp_path / "extended", code_lists=lists)
    assert path.name == "extended.xlsx"
    choices = {(row["list_name"], row["name"]): (row[f"label::{EN}"], row[f"label::{FR}"])
               for row in sheet(path, "choices")}
    assert choices[("tenure_type", "usufruct")] == ("Usufruct", "Usufruit")
    assert choices[("sex", "intersex")] == ("Intersex", "Intersex")  # French falls back
    assert choices[("tenure_type", "owner")] == ("Owner", "Propriétaire")
    assert "document_type" not in {list_name for list_name, _ in choices}  # unused list
    assert "Usufruit" in translations(to_xform(path))[FR].values()


def test_a_function_odk_does_not_know_is_refused(form, tmp_path):
    changed = copy.deepcopy(form)
    changed.question("id_document_number").relevant = "age(${date_of_birth}) >= 18"
    target = tmp_path / "refused.xlsx"
    with pytest.raises(XLSFormExportError) as refused:
        export_xlsform(changed, target)
    assert refused.value.question == "id_document_number"
    assert refused.value.function == "age"
    assert "age()" in str(refused.value) and "relevant" in str(refused.value)
    assert not target.exists()


def test_a_reference_to_no_question_is_refused(form, tmp_path):
    changed = copy.deepcopy(form)
    changed.question("phone").relevant = "${mobile_phone} != ''"
    with pytest.raises(XLSFormExportError, match=r"\$\{mobile_phone\}"):
        export_xlsform(changed, tmp_path / "refused.xlsx")


def test_a_code_list_without_values_is_refused(form, tmp_path):
    lists = {**default_code_lists(), "land_use": []}
    with pytest.raises(XLSFormExportError, match="land_use") as refused:
        export_xlsform(form, tmp_path / "refused.xlsx", code_lists=lists)
    assert refused.value.question == "land_use"


def test_sections_within_each_other_are_refused(form, tmp_path):
    changed = copy.deepcopy(form)
    next(s for s in changed.sections if s.name == "members").within = "tenure"
    with pytest.raises(XLSFormExportError, match="members"):
        export_xlsform(changed, tmp_path / "refused.xlsx")
