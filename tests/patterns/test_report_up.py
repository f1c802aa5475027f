"""Report-up (上报): local review, then the higher authority's own published process decides in its own inbox."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import services
from engine.bootstrap import OneWindow
from engine.catalog import PROCESSES_DIR, latest_version, read_item
from engine.errors import InvalidInput
from engine.forms import FormRegistry
from engine.store.catalogue_models import CatalogueEntry
from engine.store.db import open_database
from engine.store.models import Case, Deadline, ProcessVersion
from engine.store.uow import reading
from tests.patterns.helpers import MEDICAL, accepted, complete_only, opinions

PROVINCE = "province-medical-review.process.toml"
COUNTY = "county-allowance-review.process.toml"
MEDICAL_ITEM = "medical-institution.item.toml"
ALLOWANCE_ITEM = "minimum-living-allowance.item.toml"
TASK_DEPARTMENT = ('camunda:formKey="higher-review">', 'camunda:formKey="higher-review"><bpmn:extensionElements>'
                   '<camunda:properties><camunda:property name="department" value="city-health" />'
                   '</camunda:properties></bpmn:extensionElements>')


def reported_up(ow, case_no: str | None = None) -> str:
    """A medical-institution case reviewed and inspected locally, now waiting at the provincial commission."""
    case_no = case_no or accepted(ow, "medical-institution", MEDICAL)
    complete_only(ow, "health_reviewer", "review", {"decision": "pass", "opinion": "材料齐全"}, case_no)
    complete_only(ow, "health_inspector", "inspection", {"survey_result": "conforms", "survey_date": "2026-03-12"},
                  case_no)
    return case_no


@pytest.fixture
def copy(tmp_path):
    """Copy a catalogue manifest and its BPMN into tmp_path, editing either with (file suffix, old, new) triples."""
    def make(manifest: str, *edits: tuple[str, str, str]):
        bpmn = manifest.replace(".item.toml", ".bpmn").replace(".process.toml", ".bpmn")
        for name in (manifest, bpmn):
            text = (PROCESSES_DIR / name).read_text(encoding="utf-8")
            for suffix, old, new in edits:
                if name.endswith(suffix):
                    assert old in text, f"{old!r} not in {name}"
                    text = text.replace(old, new, 1)
            (tmp_path / name).write_text(text, encoding="utf-8")
        return tmp_path / manifest
    return make


def codes(findings) -> set[str]:
    """The rule codes of some findings."""
    return {f.code for f in findings}


def test_the_higher_authority_decides_in_its_own_inbox_within_the_report_up_limit(ow):
    case_no = reported_up(ow)
    assert [t["bpmn_id"] for t in services.inbox(ow, "province_reviewer")] == ["higher_review"]
    assert services.inbox(ow, "health_reviewer") == []
    with reading(ow.db) as s:
        case_id = s.scalar(select(Case.id).where(Case.case_no == case_no))
        leg = s.execute(select(Deadline.budget_days, Deadline.budget_unit, Deadline.is_open)
                        .where(Deadline.case_id == case_id, Deadline.bpmn_id == "report_up")).one()
    assert tuple(leg) == (20, "wd", True)
    assert complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意登记"}) \
        == "DECIDED"
    assert services.case_detail(ow, case_no)["result"] == "approved"
    assert opinions(ow, case_no)[-1] == ("higher_review", "province-health", "approve")
    assert services.verify_history(ow, case_no)["problems"] == []


def test_refusal_above_comes_back_as_an_error_and_refuses_the_case(ow):
    case_no = reported_up(ow)
    complete_only(ow, "province_reviewer", "higher_review", {"decision": "refuse", "opinion": "床位设置不符合规划"})
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"], detail["open_tasks"]) == ("DECIDED", "refused", [])


def test_a_request_for_more_information_reaches_the_local_reviewer_without_stopping_the_higher_review(ow):
    case_no = reported_up(ow)
    complete_only(ow, "province_reviewer", "higher_review", {"decision": "more_info", "opinion": "请补充人员资质"})
    assert [t["bpmn_id"] for t in services.inbox(ow, "health_reviewer")] == ["provide_info"]
    assert [t["bpmn_id"] for t in services.inbox(ow, "province_reviewer")] == ["higher_review"]
    complete_only(ow, "health_reviewer", "provide_info", {"opinion": "已补充卫生技术人员资格证书"})
    status = complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意"})
    assert (status, services.case_detail(ow, case_no)["result"]) == ("DECIDED", "approved")


def test_the_higher_process_is_its_own_entry_published_by_the_higher_department(ow):
    for name in (MEDICAL_ITEM, ALLOWANCE_ITEM):
        assert "calls" not in read_item(PROCESSES_DIR / name).manifest
    for name in (PROVINCE, COUNTY):
        assert "department" not in (PROCESSES_DIR / read_item(PROCESSES_DIR / name).bpmn_name).read_text("utf-8")
    with reading(ow.db) as s:
        pinned = {code: [(p["code"], p["version"], p["department"]) for p in latest_version(s, code).manifest[
            "called_processes"]] for code in ("medical-institution", "min-living-allowance")}
    assert pinned == {"medical-institution": [("province-medical-review", 1, "province-health")],
                      "min-living-allowance": [("county-allowance-review", 1, "county-civil")]}


def test_a_new_higher_version_reaches_new_cases_while_a_running_case_keeps_its_own(ow, copy):
    running = accepted(ow, "medical-institution", MEDICAL)
    process = copy(PROVINCE, (".bpmn", 'name="上级审批"', 'name="省级终审"'))
    assert services.deploy_paths(ow, [process], "designer1") == [
        {"process": "province-medical-review", "version": 2, "new": True},
        {"item": "medical-institution", "version": 2, "new": True, "calls": ["province-medical-review"]}]
    reported_up(ow, running)
    fresh = reported_up(ow)
    names = {t["case_no"]: t["name"] for t in services.inbox(ow, "province_reviewer")}
    assert names == {running: "上级审批", fresh: "省级终审"}
    for case_no in (running, fresh):
        complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意"}, case_no)
        assert services.case_detail(ow, case_no)["result"] == "approved"
        assert services.verify_history(ow, case_no)["problems"] == []
    # The same files again publish nothing new.
    assert [p["new"] for p in services.deploy_paths(ow, [process], "designer1")] == [False]


@pytest.mark.parametrize("process, item, department", [
    (PROVINCE, MEDICAL_ITEM, "city-ecology"),      # the same level: the city would decide its own report
    (PROVINCE, MEDICAL_ITEM, "county-civil"),      # a level below
    (COUNTY, ALLOWANCE_ITEM, "city-civil"),        # two levels up: the town skips the county
])
def test_a_report_up_leg_must_reach_exactly_one_organisation_level_up(ow, copy, process, item, department):
    published = copy(process, (".process.toml", 'department = "', f'department = "{department}" # '))
    caller = copy(item)
    findings = services.validate_paths(ow, [published, caller])
    assert findings[str(published)] == []
    (finding,) = findings[str(caller)]
    assert (finding.code, finding.element_id, finding.severity) == ("report-up-level", "report_up", "error")
    assert finding.line and finding.hint and department in finding.message


def test_deploying_a_higher_process_at_the_wrong_level_is_refused_and_changes_nothing(ow, copy):
    case_no = reported_up(ow)
    published = copy(PROVINCE, (".process.toml", 'department = "', 'department = "city-ecology" # '))
    before = _versions(ow)
    with pytest.raises(InvalidInput) as err:
        services.deploy_paths(ow, [published], "designer1")
    assert "report-up-level" in codes(err.value.findings)
    assert _versions(ow) == before
    assert complete_only(ow, "province_reviewer", "higher_review", {"decision": "approve", "opinion": "同意"}, case_no) \
        == "DECIDED"


def _versions(ow) -> tuple[int, int]:
    with reading(ow.db) as s:
        return s.scalar(select(func.count(ProcessVersion.id))), s.scalar(select(func.count(CatalogueEntry.id)))


def test_a_call_to_a_process_nobody_deployed_is_a_finding_at_validate_and_deploy(ow, copy):
    caller = copy(MEDICAL_ITEM, (".bpmn", 'calledElement="province_medical_review"', 'calledElement="nowhere_review"'))
    (finding,) = services.validate_paths(ow, [caller])[str(caller)]
    assert (finding.code, finding.element_id) == ("called-process-not-deployed", "report_up") and finding.line
    with pytest.raises(InvalidInput) as err:
        services.deploy_paths(ow, [caller], "designer1")
    assert codes(err.value.findings) == {"called-process-not-deployed"}


def test_validating_a_caller_with_its_higher_process_needs_nothing_deployed(tmp_path, copy):
    empty = OneWindow(db=open_database(f"sqlite:///{tmp_path / 'empty.db'}"), forms=FormRegistry())
    caller, published = copy(MEDICAL_ITEM), copy(PROVINCE)
    assert codes(services.validate_paths(empty, [caller])[str(caller)]) == {"called-process-not-deployed"}
    together = services.validate_paths(empty, [caller, published])
    assert together == {str(caller): [], str(published): []}


@pytest.mark.parametrize("manifest, edit, code", [
    (PROVINCE, (".bpmn", *TASK_DEPARTMENT), "called-process-department"),
    (MEDICAL_ITEM, (".item.toml", 'bpmn = "medical-institution.bpmn"',
                    'bpmn = "medical-institution.bpmn"\ncalls = ["province-medical-review.bpmn"]'), "manifest-calls"),
    (MEDICAL_ITEM, (".bpmn", '<camunda:property name="leg" value="report-up" />', ""), "report-up-without-leg"),
    (MEDICAL_ITEM, (".bpmn", 'calledElement="province_medical_review"', 'calledElement="medical_institution"'),
     "recursive-call"),
])
def test_what_a_designer_gets_wrong_about_report_up_is_named(ow, copy, manifest, edit, code):
    path = copy(manifest, edit)
    found = services.validate_paths(ow, [path])[str(path)]
    assert code in codes(found), [str(f) for f in found]
    assert all(f.file and f.hint for f in found)
