"""Validating and deploying the catalogue (items, called processes, bundles): every refusal names the problem,
with its file and line, and leaves what is stored untouched."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import services
from engine.catalog import PROCESSES_DIR, read_item
from engine.errors import InvalidInput, NotFound
from engine.forms import FormRegistry
from engine.services.bundles import read_bundle_file
from engine.store.catalogue_models import CatalogueEntry
from engine.store.models import ProcessVersion
from engine.store.uow import reading
from tests.integration.helpers import WINDOW_APPLICANT, accepted_ad_case, only_task
from tests.patterns.helpers import COMPANY

OPENING = {**COMPANY, "seal_count": 2, "invoice_needed": True}


@pytest.fixture
def item_copy(tmp_path):
    """A writable copy of the outdoor-advertising item to break in different ways."""
    for name in ("outdoor-ad.bpmn", "outdoor-ad.item.toml"):
        shutil.copy(PROCESSES_DIR / name, tmp_path / name)

    def edit(filename: str, old: str, new: str):
        path = tmp_path / filename
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {filename}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return tmp_path / "outdoor-ad.item.toml"

    return edit


@pytest.mark.parametrize("filename, old, new, code", [
    ("outdoor-ad.bpmn", 'camunda:formKey="review"', 'camunda:formKey="no-such-form"', "unknown-form-key"),
    ("outdoor-ad.bpmn", 'camunda:candidateGroups="inspector"', 'camunda:candidateGroups="nobody"',
     "unknown-candidate-group"),
    ("outdoor-ad.bpmn", "decision == 'pass'", "__import__('os').system('id') == 0", "unsafe-expression"),
    ("outdoor-ad.bpmn", "decision == 'pass'", "decision.__class__ == 'x'", "unsafe-expression"),
    ("outdoor-ad.bpmn", 'isExecutable="true"', 'isExecutable="false"', "not-executable"),
    ("outdoor-ad.bpmn", '<bpmn:userTask id="rework"', '<bpmn:scriptTask id="rework"', "script-task-refused"),
    ("outdoor-ad.item.toml", 'promised_limit = "3wd"', 'promised_limit = "30wd"', "promised-over-statutory"),
    # A step's own statutory limit replaces the item's 15 working days: calendar days would change what the
    # extensions and pauses already counted mean.
    ("outdoor-ad.bpmn", '<camunda:property name="limit" value="2wd" />',
     '<camunda:property name="limit" value="2wd" /><camunda:property name="statutory_limit" value="P45D" />',
     "step-limit-unit"),
    ("outdoor-ad.bpmn", '<camunda:property name="limit" value="2wd" />',
     '<camunda:property name="limit" value="2wd" /><camunda:property name="statutory_limit" value="45 days" />',
     "bad-limit"),
    # 21 working days can never fit into 21 calendar days, whatever the holidays.
    ("outdoor-ad.item.toml", 'statutory_limit = "15wd"\npromised_limit = "3wd"',
     'statutory_limit = "20d"\npromised_limit = "21wd"', "promised-over-statutory"),
])
def test_deploy_refuses_bad_items_and_keeps_the_published_version(ow, item_copy, filename, old, new, code):
    case_no = accepted_ad_case(ow)
    manifest = item_copy(filename, old, new)
    if code == "script-task-refused":
        item_copy("outdoor-ad.bpmn", "</bpmn:userTask>\n    <bpmn:sequenceFlow id=\"f_rework_done\"",
                  "</bpmn:scriptTask>\n    <bpmn:sequenceFlow id=\"f_rework_done\"")
    with pytest.raises(InvalidInput) as err:
        services.deploy_paths(ow, [manifest], "designer1")
    assert code in {f.code for f in err.value.findings}, [str(f) for f in err.value.findings]
    with reading(ow.db) as session:
        assert session.scalar(select(func.count(ProcessVersion.id)).where(ProcessVersion.item_code == "outdoor-ad")) == 1
    review = only_task(ow, "reviewer1", "review", case_no)
    assert services.complete(ow, review, "reviewer1", {"decision": "pass", "opinion": "仍可办理"}) == "IN_REVIEW"


def test_validate_reports_findings_without_touching_the_database(ow, item_copy):
    manifest = item_copy("outdoor-ad.bpmn", 'camunda:formKey="review"', 'camunda:formKey="missing"')
    findings = services.validate_paths(ow, [manifest])[str(manifest)]
    assert [(f.code, f.element_id) for f in findings] == [("unknown-form-key", "review")]
    assert findings[0].line and findings[0].file.endswith("outdoor-ad.bpmn")


def test_an_item_in_a_latin_1_file_deploys_and_keeps_its_text(ow, tmp_path):
    for name in ("outdoor-ad.bpmn", "outdoor-ad.item.toml"):
        shutil.copy(PROCESSES_DIR / name, tmp_path / name)
    bpmn = tmp_path / "outdoor-ad.bpmn"
    text = bpmn.read_text(encoding="utf-8")
    # Chinese names cannot be Latin-1: keep the structure, write the names the way an old tool would.
    latin = "".join(ch if ord(ch) < 256 else "?" for ch in text).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    latin = latin.replace('name="?', 'name="Révision ?', 1)
    bpmn.write_bytes(latin.encode("latin-1"))
    published = services.deploy_paths(ow, [tmp_path / "outdoor-ad.item.toml"], "designer1")
    assert published[0]["new"] is True
    with reading(ow.db) as session:
        stored = session.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.item_code == "outdoor-ad",
                                                                      ProcessVersion.version == published[0]["version"]))
    assert "Révision" in stored


def test_validating_against_a_database_without_schema_lints_without_the_group_rule(tmp_path):
    from engine.bootstrap import OneWindow
    from engine.store.db import open_database

    bare = OneWindow(db=open_database(f"sqlite:///{tmp_path / 'never-initialised.db'}"))
    findings = services.validate_paths(bare, [PROCESSES_DIR / "outdoor-ad.bpmn"])[str(PROCESSES_DIR / "outdoor-ad.bpmn")]
    assert [f for f in findings if f.severity == "error"] == []
    assert all(f.code != "unknown-candidate-group" for f in findings)


def test_the_shipped_catalogue_folder_validates_clean_against_the_organisation(ow):
    results = services.validate_paths(ow, [PROCESSES_DIR])
    assert results and {path: found for path, found in results.items() if found} == {}
    kinds = {Path(p).name.split(".", 1)[1] for p in results}
    assert kinds == {"item.toml", "process.toml", "bundle.toml"}


@pytest.fixture
def bundle_copy(tmp_path):
    """A writable copy of the company-opening bundle; `edit(old, new)` changes it and returns its path."""
    path = tmp_path / "company-opening.bundle.toml"
    shutil.copy(PROCESSES_DIR / path.name, path)

    def edit(old: str, new: str) -> Path:
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in the bundle"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return path

    return edit


SEAL_FIELDS = 'fields = ["company_name", "seal_count"]'


@pytest.mark.parametrize("old, new, code, line", [
    ('item = "seal-engraving"', 'item = "seal-making"', "bundle-unknown-item", 18),
    (SEAL_FIELDS, 'fields = ["company_name"]', "bundle-field-uncovered", 19),
    (SEAL_FIELDS, 'fields = ["company_name", "seal_count", "seal_colour"]', "bundle-field-missing", 19),
    (SEAL_FIELDS, 'fields = ["company_name", "seal_count", "invoice_needed"]', "bundle-field-unknown", 19),
    ('item = "seal-engraving"', 'item = "tax-registration"', "bundle-duplicate-item", 22),
    ('department = "city-centre"', 'department = "county-centre"', "bundle-department", 14),
    ('department = "city-centre"', 'department = "nowhere-centre"', "unknown-department", 6),
    ('promised_limit = "1wd"', 'promised_limit = "0wd"', "bundle-promise", 22),
    ('promised_limit = "1wd"', 'promised_limit = "one day"', "manifest-limit", 9),
    ('application_form = "company-opening-application"', 'application_form = "no-such-form"', "unknown-form-key", 10),
    ('code = "company-opening"', 'code = "company-start"', "bundle-code", 2),
    ('[[items]]\nitem = "company-registration"', '[[items]]\nitem = ["company-registration"]', "manifest-type", 13),
    ('name_en = "Open', 'name_en = Open', "manifest-malformed", 4),
])
def test_validate_checks_a_bundle_with_located_findings(ow, bundle_copy, old, new, code, line):
    path = bundle_copy(old, new)
    found = services.validate_paths(ow, [path])[str(path)]
    assert code in {f.code for f in found}, [str(f) for f in found]
    finding = next(f for f in found if f.code == code)
    assert (finding.file, finding.line, finding.severity) == (str(path), line, "error") and finding.hint


def test_the_bundle_form_must_be_as_strict_as_each_member_form(tmp_path):
    from engine.services.bundles import BundleFile, bundle_findings

    forms_dir = tmp_path / "forms"
    shutil.copytree(PROCESSES_DIR.parent / "forms", forms_dir)
    form = json.loads((forms_dir / "company-opening-application.json").read_text(encoding="utf-8"))
    form["properties"]["seal_count"]["minimum"] = 0
    form["properties"]["company_type"]["enum"].append("cooperative")
    form["required"].remove("invoice_needed")
    (forms_dir / "company-opening-application.json").write_text(json.dumps(form), encoding="utf-8")
    bundle = read_bundle_file(PROCESSES_DIR / "company-opening.bundle.toml")
    items = {p.name.removesuffix(".item.toml"): read_item(p).manifest for p in PROCESSES_DIR.glob("*.item.toml")}
    found = bundle_findings(BundleFile(bundle.manifest, bundle.manifest_path, bundle.text), items, FormRegistry(forms_dir), None)
    assert sorted((f.code, f.message.split(":")[0]) for f in found) == [
        ("bundle-field-optional", "tax-registration"), ("bundle-field-type", "company-registration"),
        ("bundle-field-type", "seal-engraving")]


def test_a_member_whose_limit_variant_promises_longer_than_the_bundle_is_refused():
    from engine.services.bundles import BundleFile, bundle_findings

    bundle = read_bundle_file(PROCESSES_DIR / "company-opening.bundle.toml")
    items = {p.name.removesuffix(".item.toml"): read_item(p).manifest for p in PROCESSES_DIR.glob("*.item.toml")}
    check = BundleFile(bundle.manifest, bundle.manifest_path, bundle.text)
    assert [f.code for f in bundle_findings(check, items, FormRegistry(), None)] == []
    # Within the bundle's one-day promise on its own limits, but not for one kind of application.
    items["seal-engraving"] = {**items["seal-engraving"], "limit_variants": {
        "field": "seal_count", "values": {"few": {"statutory_limit": "20wd"}, "many": {"promised_limit": "3wd"}}}}
    found = bundle_findings(check, items, FormRegistry(), None)
    assert [(f.code, f.message) for f in found] == [
        ("bundle-promise", "seal-engraving promises 3wd when seal_count = many, longer than the bundle's promise "
                           "of 1wd")]


def test_deploy_refuses_an_invalid_bundle_and_keeps_the_published_one(ow, bundle_copy):
    path = bundle_copy('fields = ["company_name", "seal_count"]', 'fields = ["company_name"]')
    before = _entries(ow)
    with pytest.raises(InvalidInput) as err:
        services.deploy_paths(ow, [path], "designer1")
    assert {f.code for f in err.value.findings} == {"bundle-field-uncovered"} and err.value.findings[0].line
    assert _entries(ow) == before
    made = services.bundles.apply_bundle(ow, "company-opening", "window1", OPENING, applicant=WINDOW_APPLICANT)
    assert len(made["cases"]) == 3


def test_a_changed_bundle_deploys_as_a_new_version_that_applications_use(ow, bundle_copy):
    path = bundle_copy('\n[[items]]\nitem = "tax-registration"\nfields = ["company_name", "invoice_needed"]\n', "\n")
    assert services.deploy_paths(ow, [path], "designer1") == [{"bundle": "company-opening", "version": 2, "new": True}]
    assert services.deploy_paths(ow, [path], "designer1")[0]["new"] is False
    made = services.bundles.apply_bundle(ow, "company-opening", "window1", OPENING, applicant=WINDOW_APPLICANT)
    assert [c["item_code"] for c in made["cases"]] == ["company-registration", "seal-engraving"]
    events = services.history(ow, made["cases"][0]["case_no"])
    assert [e["payload"]["bundle_version"] for e in events if e["type"] == "bundled"] == [2]


def test_a_bundle_that_was_never_deployed_cannot_be_applied_for(ow):
    with pytest.raises(NotFound):
        services.bundles.apply_bundle(ow, "company-closing", "window1", OPENING, applicant=WINDOW_APPLICANT)


def _entries(ow) -> list[tuple[str, str, int]]:
    with reading(ow.db) as session:
        return list(session.execute(select(CatalogueEntry.kind, CatalogueEntry.code, CatalogueEntry.version)
                                    .order_by(CatalogueEntry.id)).tuples())


HOSTILE = {
    "types.item.toml": 'code = "x"\nname = 1\nmaterials = 3\napplication_form = [1]\ncase_type = {a = 1}\n'
                       'bpmn = "outdoor-ad.bpmn"\n',
    "escape.item.toml": 'code = "x"\nbpmn = "../../../../etc/passwd"\n',
    "absolute.process.toml": 'code = "x"\nbpmn = "/etc/passwd"\n',
    "deep.item.toml": "a = " + "[" * 5000 + "]" * 5000 + "\n",
    "latin.item.toml": b'code = "x"\nname = "\xe9"\n',
    "binary.bundle.toml": b"\x89PNG\r\n\x1a\n\x00\x00\xff",
    "items.bundle.toml": 'code = "items"\nitems = "all of them"\n',
    "fields.bundle.toml": 'code = "fields"\nname = "n"\nname_en = "n"\napplication_form = "applicant"\n'
                          '[[items]]\nitem = 3\nfields = "x"\n',
    "half.process.toml": 'code = "half"\nbpmn = "half.bpmn"\n',
    "half.bpmn": "<x/>",
    "limits.item.toml": (PROCESSES_DIR / "outdoor-ad.item.toml").read_text(encoding="utf-8")
    .replace('extension_limit = "10wd"', 'extension_limit = "ten days"').replace('code = "outdoor-ad"', 'code = "Ad!"')
    .replace("amount = 0", "amount = -5"),
}


def test_validate_never_crashes_whatever_the_files(ow, tmp_path):
    shutil.copy(PROCESSES_DIR / "outdoor-ad.bpmn", tmp_path / "outdoor-ad.bpmn")
    for name, content in HOSTILE.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    os.mkfifo(tmp_path / "pipe.bpmn")
    with open(tmp_path / "huge.bpmn", "wb") as huge:
        huge.truncate(64 * 1024 * 1024)
    (tmp_path / "folder.item.toml").mkdir()
    named = [tmp_path, tmp_path / "pipe.bpmn", tmp_path / "folder.item.toml", tmp_path / "missing.bpmn"]
    results = services.validate_paths(ow, named)
    for name in [*HOSTILE.keys() - {"half.bpmn"}, "pipe.bpmn", "huge.bpmn", "folder.item.toml", "missing.bpmn"]:
        found = results[str(tmp_path / name)]
        assert any(f.severity == "error" for f in found) and all(f.code and f.file and f.hint for f in found), name
    assert {f.code for f in results[str(tmp_path / "limits.item.toml")]} >= {"manifest-limit", "manifest-code",
                                                                               "manifest-fee"}
    assert {f.code for f in results[str(tmp_path / "escape.item.toml")]} == {"manifest-bpmn"}
    assert {f.code for f in results[str(tmp_path / "huge.bpmn")]} == {"xml-too-large"}


def test_two_files_publishing_the_same_code_are_named(ow, item_copy, tmp_path):
    copy = item_copy("outdoor-ad.item.toml", 'name_en = "Outdoor', 'name_en = "Copied outdoor')
    results = services.validate_paths(ow, [PROCESSES_DIR / "outdoor-ad.item.toml", copy])
    assert results[str(PROCESSES_DIR / "outdoor-ad.item.toml")] == []
    (finding,) = results[str(copy)]
    assert (finding.code, finding.line) == ("duplicate-code", 2) and str(PROCESSES_DIR) in finding.message
