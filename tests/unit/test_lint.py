"""Structural lint rules: one small model per rule, a clean Camunda-style model, and the MIWG reference files."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from engine.bpmn import lint
from engine.bpmn.lint import assignment, extension_properties, iter_expressions, lint_tree, owner_id
from engine.bpmn.xml import BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS, parse_xml
from engine.errors import Finding

MIWG = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "miwg"
MIWG_FILES = sorted(MIWG.glob("*.bpmn"))
NAMESPACES = (f'xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}" xmlns:spiffworkflow="{SPIFF_NS}" '
              f'xmlns:zeebe="{ZEEBE_NS}" xmlns:activiti="http://activiti.org/bpmn" '
              'xmlns:flowable="http://flowable.org/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"')

CLEAN_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NAMESPACES} id="Defs_shop_licence" targetNamespace="http://onewindow.example/bpmn">
  <bpmn:message id="Msg_correction" name="correction-submitted"/>
  <bpmn:process id="shop_licence" name="Shop licence" isExecutable="true">
    <bpmn:laneSet id="LaneSet_1">
      <bpmn:lane id="Lane_clerk" name="Front desk clerk"><bpmn:flowNodeRef>Task_check</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="Start" name="Application submitted" camunda:formKey="shop-licence-apply"/>
    <bpmn:userTask id="Task_check" name="Check documents" camunda:formKey="shop-licence-check"/>
    <bpmn:userTask id="Task_review" name="Review" camunda:formKey="shop-licence-review"
                   camunda:candidateGroups="reviewer, approver">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="limit" value="3wd"/></camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="Timer_deemed" name="Deemed approval" attachedToRef="Task_review">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="rule" value="deemed-approval"/></camunda:properties>
      </bpmn:extensionElements>
      <bpmn:timerEventDefinition id="TimerDef_deemed">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P20D</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:exclusiveGateway id="Gateway_decision" name="Approved?" default="Flow_reject"/>
    <bpmn:serviceTask id="Task_issue" name="Issue licence" camunda:type="external" camunda:topic="issue-licence"/>
    <bpmn:endEvent id="End_issued" name="Licence issued"/>
    <bpmn:endEvent id="End_rejected" name="Rejected"/>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start" targetRef="Task_check"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_check" targetRef="Task_review"/>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Task_review" targetRef="Gateway_decision"/>
    <bpmn:sequenceFlow id="Flow_approve" sourceRef="Gateway_decision" targetRef="Task_issue">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">decision == "approve"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_reject" sourceRef="Gateway_decision" targetRef="End_rejected"/>
    <bpmn:sequenceFlow id="Flow_deemed" sourceRef="Timer_deemed" targetRef="Task_issue"/>
    <bpmn:sequenceFlow id="Flow_4" sourceRef="Task_issue" targetRef="End_issued"/>
  </bpmn:process>
</bpmn:definitions>
"""
KNOWN_FORMS = {"shop-licence-apply", "shop-licence-check", "shop-licence-review"}
KNOWN_GROUPS = {"reviewer", "approver"}
START = '<bpmn:startEvent id="start"/>'


@pytest.fixture
def clean_tree() -> etree._ElementTree:
    """A small valid executable model as Camunda Modeler 5 writes it (camunda: attributes, properties)."""
    return parse_xml(CLEAN_BPMN.encode(), "shop_licence.bpmn")


def doc(body: str, root_extra: str = "", executable: str = "true") -> etree._ElementTree:
    """Return a parsed file with one process holding `body`."""
    return parse_xml(f'<bpmn:definitions {NAMESPACES} id="D">{root_extra}<bpmn:process id="P" '
                     f'isExecutable="{executable}">{body}</bpmn:process></bpmn:definitions>', "t.bpmn")


def findings(tree: etree._ElementTree, code: str, **kwargs: object) -> list[Finding]:
    """Return the findings with the given code."""
    return [f for f in lint_tree(tree, "t.bpmn", **kwargs) if f.code == code]


def test_clean_executable_model_has_no_findings(clean_tree: etree._ElementTree) -> None:
    assert lint_tree(clean_tree, "shop_licence.bpmn", known_form_keys=KNOWN_FORMS, known_groups=KNOWN_GROUPS) == []


def test_miwg_folder_is_there() -> None:
    assert len(MIWG_FILES) >= 8, f"MIWG reference models missing under {MIWG}"


@pytest.mark.parametrize("path", MIWG_FILES, ids=lambda p: p.name)
def test_miwg_files_lint_without_raising(path: Path) -> None:
    tree = parse_xml(path.read_bytes(), path.name)
    result = lint_tree(tree, path.name, known_form_keys=set(), known_groups=set())
    assert all(isinstance(f, Finding) and f.file == path.name and f.message and f.hint for f in result)
    assert all(f.severity in ("error", "warning") and f.line for f in result)
    not_executable = {f.element_id for f in result if f.code == "not-executable"}
    # None of the reference models is marked executable: each process must be reported.
    assert not_executable == {p.get("id") for p in tree.iter(f"{{{BPMN_NS}}}process")}


RULES = [
    # (code, body, root_extra, element id the finding points at, severity)
    ("unsupported-complex-gateway", '<bpmn:complexGateway id="g"/>', "", "g", "error"),
    ("unsupported-compensation", '<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:compensateEventDefinition '
     'id="cd"/></bpmn:boundaryEvent><bpmn:task id="t"/>', "", "b", "error"),
    ("unsupported-compensation", '<bpmn:task id="undo" isForCompensation="true"/>', "", "undo", "error"),
    ("unsupported-link-event", '<bpmn:intermediateThrowEvent id="l"><bpmn:linkEventDefinition id="ld" name="x"/>'
     '</bpmn:intermediateThrowEvent>', "", "l", "error"),
    ("script-task-refused", '<bpmn:scriptTask id="s" scriptFormat="python"><bpmn:script>x = 1</bpmn:script>'
     '</bpmn:scriptTask>', "", "s", "error"),
    ("script-refused", '<bpmn:task id="t"><bpmn:extensionElements><spiffworkflow:preScript>x = 1'
     '</spiffworkflow:preScript></bpmn:extensionElements></bpmn:task>', "", "t", "error"),
    ("script-refused", '<bpmn:task id="t"><bpmn:extensionElements><spiffworkflow:postScript>x = 1'
     '</spiffworkflow:postScript></bpmn:extensionElements></bpmn:task>', "", "t", "error"),
    ("script-refused", '<bpmn:task id="t"><bpmn:extensionElements><camunda:executionListener event="start">'
     '<camunda:script scriptFormat="groovy">x</camunda:script></camunda:executionListener>'
     '</bpmn:extensionElements></bpmn:task>', "", "t", "error"),
    ("unsupported-zeebe", '<bpmn:serviceTask id="z"><bpmn:extensionElements><zeebe:taskDefinition type="a"/>'
     '</bpmn:extensionElements></bpmn:serviceTask>', "", "z", "error"),
    ("unsupported-zeebe", '<bpmn:task id="z" zeebe:modelerTemplate="x"/>', "", "z", "error"),
    ("unsupported-element", '<bpmn:transaction id="tx"/>', "", "tx", "error"),
    ("unsupported-element", '<bpmn:adHocSubProcess id="ah"/>', "", "ah", "error"),
    ("unsupported-element", "", '<bpmn:choreography id="ch"><bpmn:choreographyTask id="ct"/></bpmn:choreography>',
     "ch", "error"),
    ("data-store-unsupported", '<bpmn:dataStoreReference id="dsr" dataStoreRef="ds"/>',
     '<bpmn:dataStore id="ds" name="Archive"/>', "dsr", "warning"),
    ("send-task", '<bpmn:sendTask id="st"/>', "", "st", "warning"),
    ("manual-task", '<bpmn:manualTask id="mt"/>', "", "mt", "warning"),
    ("receive-task-without-message", '<bpmn:receiveTask id="rt"/>', "", "rt", "error"),
    ("receive-task-without-message", '<bpmn:receiveTask id="rt" messageRef="nowhere"/>', "", "rt", "error"),
    ("business-rule-without-decision", '<bpmn:businessRuleTask id="br"/>', "", "br", "error"),
    ("call-activity-without-process", '<bpmn:callActivity id="up"/>', "", "up", "error"),
    ("call-activity-without-process", '<bpmn:callActivity id="up" calledElement="  "/>', "", "up", "error"),
    ("unsupported-feel", '<bpmn:exclusiveGateway id="g"/><bpmn:task id="a"/><bpmn:sequenceFlow id="f" sourceRef="g" '
     'targetRef="a"><bpmn:conditionExpression language="FEEL">x &gt; 1</bpmn:conditionExpression>'
     '</bpmn:sequenceFlow>', "", "f", "error"),
    ("unsupported-feel", '<bpmn:exclusiveGateway id="g"/><bpmn:task id="a"/><bpmn:sequenceFlow id="f" sourceRef="g" '
     'targetRef="a"><bpmn:conditionExpression>= amount &gt; 10</bpmn:conditionExpression></bpmn:sequenceFlow>',
     "", "f", "error"),
    ("unassigned-user-task", '<bpmn:userTask id="u"/>', "", "u", "error"),
    ("dynamic-assignment", '<bpmn:userTask id="u" camunda:candidateGroups="${group}"/>', "", "u", "warning"),
    ("dynamic-assignment", '<bpmn:userTask id="u" camunda:assignee="${initiator}"/>', "", "u", "warning"),
    ("timer-without-rule", '<bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition id="td">'
     '<bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
     "", "w", "error"),
    ("timer-without-rule", '<bpmn:intermediateCatchEvent id="w"><bpmn:extensionElements><spiffworkflow:properties>'
     '<spiffworkflow:property name="rule" value="whenever"/></spiffworkflow:properties></bpmn:extensionElements>'
     '<bpmn:timerEventDefinition/></bpmn:intermediateCatchEvent>', "", "w", "error"),
    ("bad-limit", '<bpmn:task id="t"><bpmn:extensionElements><camunda:properties><camunda:property name="limit" '
     'value="3 days"/></camunda:properties></bpmn:extensionElements></bpmn:task>', "", "t", "error"),
    ("dangling-flow", f'{START}<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="ghost"/>', "", "f", "error"),
    ("dangling-flow", f'{START}<bpmn:subProcess id="sp"><bpmn:task id="inner"/></bpmn:subProcess>'
     '<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="inner"/>', "", "f", "error"),
    ("unreachable", f'{START}<bpmn:endEvent id="e"/><bpmn:task id="lost"/>'
     '<bpmn:sequenceFlow id="f" sourceRef="start" targetRef="e"/>', "", "lost", "warning"),
    ("missing-condition", f'{START}<bpmn:exclusiveGateway id="g"/><bpmn:task id="a"/><bpmn:task id="b"/>'
     '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="g"/>'
     '<bpmn:sequenceFlow id="fa" sourceRef="g" targetRef="a"><bpmn:conditionExpression>x</bpmn:conditionExpression>'
     '</bpmn:sequenceFlow><bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="b"/>', "", "fb", "warning"),
    ("unnamed-message", "", '<bpmn:message id="m"/>', "m", "error"),
    ("unnamed-signal", "", '<bpmn:signal id="s" name=" "/>', "s", "error"),
    ("unnamed-error", "", '<bpmn:error id="e" errorCode="E1"/>', "e", "error"),
    ("unnamed-escalation", "", '<bpmn:escalation id="x"/>', "x", "error"),
    ("duplicate-id", '<bpmn:task id="twin"/><bpmn:task id="twin"/>', "", "twin", "error"),
]


@pytest.mark.parametrize(("code", "body", "root_extra", "element_id", "severity"), RULES,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(RULES)])
def test_rule_fires(code: str, body: str, root_extra: str, element_id: str, severity: str) -> None:
    found = findings(doc(body, root_extra), code)
    assert [(f.element_id, f.severity) for f in found][:1] == [(element_id, severity)]
    assert found[0].file == "t.bpmn" and found[0].line and found[0].hint and found[0].message


def test_not_bpmn_root_is_the_only_finding() -> None:
    result = lint_tree(parse_xml(b"<html><body/></html>"), "page.html")
    assert [(f.code, f.line) for f in result] == [("not-bpmn", 1)]
    other_ns = parse_xml(b'<definitions xmlns="http://schema.omg.org/spec/BPMN/2.0"/>')
    assert [f.code for f in lint_tree(other_ns, "old.bpmn")] == ["not-bpmn"]


def test_file_without_process_reports_no_process() -> None:
    tree = parse_xml(f'<bpmn:definitions {NAMESPACES}><bpmn:collaboration id="c"/></bpmn:definitions>')
    assert [f.code for f in lint_tree(tree, "t.bpmn")] == ["no-process"]


def test_not_executable_is_an_error_unless_another_pool_runs() -> None:
    assert [f.severity for f in findings(doc(START, executable="false"), "not-executable")] == ["error"]
    outside = '<bpmn:process id="Citizen" isExecutable="false"/>'
    found = findings(doc(START, root_extra=outside), "not-executable")
    assert [(f.element_id, f.severity) for f in found] == [("Citizen", "warning")]


def test_zeebe_is_reported_once_per_element() -> None:
    body = ('<bpmn:serviceTask id="z" zeebe:modelerTemplate="t"><bpmn:extensionElements><zeebe:taskDefinition '
            'type="a"/><zeebe:ioMapping/></bpmn:extensionElements></bpmn:serviceTask>')
    assert len(findings(doc(body), "unsupported-zeebe")) == 1


def test_data_store_with_an_implementation_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lint, "DATA_STORE_IMPLEMENTATIONS", frozenset({"Archive"}))
    tree = doc('<bpmn:dataStoreReference id="dsr" dataStoreRef="ds"/>', '<bpmn:dataStore id="ds" name="Archive"/>')
    assert findings(tree, "data-store-unsupported") == []


def test_supported_task_variants_pass() -> None:
    body = ('<bpmn:receiveTask id="rt" messageRef="m"/><bpmn:businessRuleTask id="br" camunda:decisionRef="fee"/>'
            '<bpmn:businessRuleTask id="br2"><bpmn:extensionElements><spiffworkflow:calledDecisionId>fee'
            '</spiffworkflow:calledDecisionId></bpmn:extensionElements></bpmn:businessRuleTask>'
            '<bpmn:callActivity id="up" calledElement="province_review"/>')
    codes = {f.code for f in lint_tree(doc(body, '<bpmn:message id="m" name="paid"/>'), "t.bpmn")}
    assert not codes & {"receive-task-without-message", "business-rule-without-decision", "call-activity-without-process"}


@pytest.mark.parametrize("vendor", ["camunda", "activiti", "flowable"])
def test_unknown_form_key_for_each_vendor(vendor: str) -> None:
    tree = doc(f'<bpmn:userTask id="u" {vendor}:formKey="embedded:app:forms/x.html" {vendor}:assignee="ann"/>')
    found = findings(tree, "unknown-form-key", known_form_keys={"apply"})
    assert [f.element_id for f in found] == ["u"]
    assert "embedded:app:forms/x.html" in found[0].message and "forms/embedded:app:forms/x.html.json" in found[0].hint
    assert findings(tree, "unknown-form-key") == []  # no list given: nothing to check against


def test_unknown_candidate_groups_are_reported_one_by_one() -> None:
    tree = doc('<bpmn:userTask id="u" flowable:candidateGroups="reviewer, ghost,phantom"/>')
    found = findings(tree, "unknown-candidate-group", known_groups={"reviewer"})
    assert sorted(f.message for f in found) == ["candidate group 'ghost' does not exist",
                                                "candidate group 'phantom' does not exist"]


def test_dynamic_groups_are_not_checked_against_known_groups() -> None:
    tree = doc('<bpmn:userTask id="u" camunda:candidateGroups="${dept}, reviewer"/>')
    assert findings(tree, "unknown-candidate-group", known_groups={"reviewer"}) == []
    assert "${dept}" in findings(tree, "dynamic-assignment")[0].message


def test_user_task_in_a_lane_or_lane_subprocess_is_assigned() -> None:
    lane = ('<bpmn:laneSet id="ls"><bpmn:lane id="clerk"><bpmn:flowNodeRef>u</bpmn:flowNodeRef>'
            '<bpmn:flowNodeRef>sp</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>')
    body = lane + '<bpmn:userTask id="u"/><bpmn:subProcess id="sp"><bpmn:userTask id="inner"/></bpmn:subProcess>'
    assert findings(doc(body), "unassigned-user-task") == []


def test_known_timer_rules_and_limits_pass() -> None:
    events = "".join(
        f'<bpmn:intermediateCatchEvent id="t{i}"><bpmn:extensionElements><camunda:properties><camunda:property '
        f'name="rule" value="{rule}"/></camunda:properties></bpmn:extensionElements><bpmn:timerEventDefinition/>'
        '</bpmn:intermediateCatchEvent>' for i, rule in enumerate(sorted(lint.TIMER_RULES)))
    limits = "".join(
        f'<bpmn:task id="l{i}"><bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="limit" '
        f'value="{limit}"/></spiffworkflow:properties></bpmn:extensionElements></bpmn:task>'
        for i, limit in enumerate(["3wd", "P5D", "PT4H"]))
    codes = {f.code for f in lint_tree(doc(events + limits), "t.bpmn")}
    assert not codes & {"timer-without-rule", "bad-limit"}


def test_default_flow_needs_no_condition() -> None:
    body = (f'{START}<bpmn:exclusiveGateway id="g" default="fb"/><bpmn:task id="a"/><bpmn:task id="b"/>'
            '<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="g"/><bpmn:sequenceFlow id="fa" sourceRef="g" '
            'targetRef="a"><bpmn:conditionExpression>x</bpmn:conditionExpression></bpmn:sequenceFlow>'
            '<bpmn:sequenceFlow id="fb" sourceRef="g" targetRef="b"/>')
    assert findings(doc(body), "missing-condition") == []


def test_reachability_follows_boundaries_subprocesses_and_event_subprocesses() -> None:
    body = (f'{START}<bpmn:subProcess id="sp"><bpmn:startEvent id="s2"/><bpmn:task id="deep"/>'
            '<bpmn:sequenceFlow id="i1" sourceRef="s2" targetRef="deep"/></bpmn:subProcess>'
            '<bpmn:boundaryEvent id="b" attachedToRef="sp"/><bpmn:task id="after_b"/>'
            '<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="s3"/><bpmn:task id="handler"/>'
            '<bpmn:sequenceFlow id="i2" sourceRef="s3" targetRef="handler"/></bpmn:subProcess>'
            '<bpmn:subProcess id="dead"><bpmn:task id="in_dead"/></bpmn:subProcess>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sp"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="b" targetRef="after_b"/>')
    # Only the unreachable subprocess itself is reported, not everything inside it.
    assert [f.element_id for f in findings(doc(body), "unreachable")] == ["dead"]


def test_extension_properties_reads_camunda_and_spiff() -> None:
    tree = doc('<bpmn:task id="t"><bpmn:extensionElements><camunda:properties><camunda:property name="rule" '
               'value="warning"/></camunda:properties><spiffworkflow:properties><spiffworkflow:property name="limit" '
               'value="2wd"/><spiffworkflow:property name="rule" value="ignored"/></spiffworkflow:properties>'
               '</bpmn:extensionElements></bpmn:task>')
    task = tree.find(f".//{{{BPMN_NS}}}task")
    assert extension_properties(task) == {"rule": "warning", "limit": "2wd"}
    assert extension_properties(tree.getroot()) == {}


def test_assignment_prefers_camunda_and_keeps_expressions_whole() -> None:
    tree = doc('<bpmn:userTask id="u" camunda:candidateGroups="a, b" activiti:candidateGroups="x" '
               'flowable:assignee="zoe" activiti:candidateUsers="${pick(a, b)}, bob" camunda:formKey=" apply "/>')
    assert assignment(tree.find(f".//{{{BPMN_NS}}}userTask")) == {
        "candidate_groups": ["a", "b"], "candidate_users": ["${pick(a, b)}", "bob"], "assignee": "zoe",
        "form_key": "apply"}
    assert assignment(tree.getroot()) == {"candidate_groups": [], "candidate_users": [], "assignee": None,
                                          "form_key": None}


def test_iter_expressions_yields_every_expression_in_order() -> None:
    body = ('<bpmn:task id="t"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality>'
            '<bpmn:completionCondition>done</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>'
            '</bpmn:task><bpmn:task id="loop"><bpmn:standardLoopCharacteristics><bpmn:loopCondition>again'
            '</bpmn:loopCondition></bpmn:standardLoopCharacteristics></bpmn:task>'
            '<bpmn:sequenceFlow id="f" sourceRef="t" targetRef="loop"><bpmn:conditionExpression><![CDATA[a < b]]>'
            '</bpmn:conditionExpression></bpmn:sequenceFlow>'
            '<bpmn:intermediateCatchEvent id="w"><bpmn:timerEventDefinition id="td"><bpmn:timeCycle>R3/PT1H'
            '</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>'
            '<bpmn:intermediateCatchEvent id="c"><bpmn:conditionalEventDefinition><bpmn:condition>ready'
            '</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>'
            '<bpmn:boundaryEvent id="b"><bpmn:timerEventDefinition><bpmn:timeDate>2030-01-01</bpmn:timeDate>'
            '<bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>')
    found = [(owner_id(node), kind, text) for node, kind, text in iter_expressions(doc(body))]
    assert found == [("t", "loop-cardinality", "3"), ("t", "completion-condition", "done"),
                     ("loop", "loop-condition", "again"), ("f", "condition", "a < b"), ("w", "time-cycle", "R3/PT1H"),
                     ("c", "event-condition", "ready"), ("b", "time-date", "2030-01-01"), ("b", "time-duration", "P1D")]


_TAGS = ["definitions", "process", "subProcess", "task", "userTask", "startEvent", "endEvent", "boundaryEvent",
         "exclusiveGateway", "sequenceFlow", "conditionExpression", "timerEventDefinition", "timeDuration",
         "extensionElements", "lane", "laneSet", "flowNodeRef", "message", "dataStoreReference", "receiveTask"]
_ATTRS = ["id", "sourceRef", "targetRef", "attachedToRef", "default", "isExecutable", "name", "messageRef",
          "dataStoreRef", "triggeredByEvent", f"{{{CAMUNDA_NS}}}candidateGroups", f"{{{CAMUNDA_NS}}}formKey",
          f"{{{ZEEBE_NS}}}x", "language"]
_VALUES = st.sampled_from(["a", "b", "c", "true", "", "${x}", "=1", "feel", "a,b"])


@st.composite
def _trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    namespace = draw(st.sampled_from([BPMN_NS, BPMN_NS, BPMN_NS, CAMUNDA_NS, SPIFF_NS, ZEEBE_NS]))
    node = etree.Element(f"{{{namespace}}}{draw(st.sampled_from(_TAGS))}")
    for attr in draw(st.lists(st.sampled_from(_ATTRS), max_size=4)):
        node.set(attr, draw(_VALUES))
    node.text = draw(st.sampled_from([None, "", "= x", "a"]))
    if depth < 3:
        node.extend(draw(st.lists(_trees(depth + 1), max_size=4)))
    return node


@settings(max_examples=150, deadline=None)
@given(_trees())
def test_lint_never_raises_on_well_formed_xml(root: etree._Element) -> None:
    tree = parse_xml(etree.tostring(root))
    result = lint_tree(tree, "fuzz.bpmn", known_form_keys={"a"}, known_groups={"b"})
    assert all(isinstance(f, Finding) and f.code and f.hint and f.file == "fuzz.bpmn" for f in result)
