"""Deploying items: every refusal names the problem and leaves what is stored untouched."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from engine import services
from engine.catalog import PROCESSES_DIR
from engine.errors import InvalidInput
from engine.store.models import ProcessVersion
from engine.store.uow import reading
from tests.integration.helpers import accepted_ad_case, only_task


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
