"""The OneWindow parser: vendor assignment attributes and properties reach the task specs; bad models are findings."""
from __future__ import annotations

import itertools
import re

import pytest

from engine.bpmn.parser import build_specs
from engine.errors import InvalidInput
from engine.runtime import (
    CANONICAL_JSON,
    ENGINE_JSON,
    SpecBundle,
    complete_task,
    dump_state,
    load_state,
    ready_user_tasks,
    start_workflow,
)

HEAD = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:activiti="http://activiti.org/bpmn" '
        'xmlns:flowable="http://flowable.org/bpmn" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">')


def model(tasks: str, process_id: str = "p", executable: str = "true") -> bytes:
    """A start → tasks → end process; `tasks` are user task elements chained in order by id."""
    return (f'{HEAD}<bpmn:process id="{process_id}" isExecutable="{executable}">'
            f'<bpmn:startEvent id="s"/>{tasks}<bpmn:endEvent id="e"/>'
            + _flows(tasks) + "</bpmn:process></bpmn:definitions>").encode()


def _flows(tasks: str) -> str:
    ids = ["s", *re.findall(r'<bpmn:userTask id="([^"]+)"', tasks), "e"]
    return "".join(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>'
                   for i, (a, b) in enumerate(itertools.pairwise(ids)))


def specs_of(xml: bytes) -> dict:
    parsed = build_specs([("m.bpmn", xml)], "p")
    return {name: spec for name, spec in parsed.spec.task_specs.items()}


def test_camunda_activiti_and_flowable_assignment_and_form_keys_are_read():
    xml = model('<bpmn:userTask id="a" camunda:candidateGroups="window, reviewer" camunda:formKey="intake"/>'
                '<bpmn:userTask id="b" activiti:assignee="chief1" activiti:formKey="decide"/>'
                '<bpmn:userTask id="c" flowable:candidateGroups="inspector"/>')
    specs = specs_of(xml)
    assert specs["a"].extensions["assignment"]["candidate_groups"] == ["window", "reviewer"]
    assert specs["a"].extensions["assignment"]["form_key"] == "intake"
    assert specs["b"].extensions["assignment"]["assignee"] == "chief1"
    assert specs["b"].extensions["assignment"]["form_key"] == "decide"
    assert specs["c"].extensions["assignment"]["candidate_groups"] == ["inspector"]


def test_properties_from_camunda_and_spiffworkflow_land_in_one_dict():
    xml = model('<bpmn:userTask id="a" camunda:candidateGroups="window"><bpmn:extensionElements>'
                '<camunda:properties><camunda:property name="limit" value="3wd"/></camunda:properties>'
                '<spiffworkflow:properties><spiffworkflow:property name="ladder" value="strict"/>'
                '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')
    assert specs_of(xml)["a"].extensions["properties"] == {"limit": "3wd", "ladder": "strict"}


@pytest.mark.parametrize("state_format", [ENGINE_JSON, CANONICAL_JSON])
def test_state_round_trips_without_the_spec_and_keeps_running(state_format):
    parsed = build_specs([("m.bpmn", model('<bpmn:userTask id="a" camunda:candidateGroups="g"/>'
                                           '<bpmn:userTask id="b" camunda:candidateGroups="g"/>'))], "p")
    bundle = SpecBundle(parsed.spec, parsed.subprocess_specs)
    wf = start_workflow(bundle, {"x": 1})
    state = dump_state(wf, state_format)
    assert '"spec"' not in state and "task_specs" not in state
    wf = load_state(bundle, state, state_format)
    for expected in ("a", "b"):
        task = ready_user_tasks(wf)[0]
        assert task.task_spec.bpmn_id == expected
        complete_task(wf, task, {"seen": expected})
        wf = load_state(bundle, dump_state(wf, state_format), state_format)
    assert wf.is_completed() and wf.data == {"x": 1, "seen": "b"}


@pytest.mark.parametrize("xml, code", [
    (b"<bpmn:definitions", "xml-malformed"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "xml-dtd"),
    (model('<bpmn:userTask id="a"/>', executable="false"), "spiff-validation"),
    # XXE through an attribute and a billion-laughs bomb: the hardened parser fails on them before the
    # DOCTYPE check would run, so they must still be reported as a refused DTD, not as malformed XML.
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d a="&x;"/>', "xml-dtd"),
    (b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>', "xml-dtd"),
    (b'<?xml version="1.0"?><?xml-stylesheet href="http://example.invalid/x.xsl"?><d/>', "xml-entity"),
])
def test_bad_models_are_refused_with_a_finding(xml, code):
    with pytest.raises(InvalidInput) as err:
        build_specs([("bad.bpmn", xml)], "p")
    assert err.value.findings[0].code == code
    assert err.value.findings[0].file == "bad.bpmn"


def test_oversized_files_are_refused_before_parsing():
    huge = model('<bpmn:userTask id="a"/>').replace(b'id="d"', b'id="d" x="' + b"a" * (6 * 1024 * 1024) + b'"')
    with pytest.raises(InvalidInput) as err:
        build_specs([("huge.bpmn", huge)], "p")
    assert err.value.findings[0].code == "xml-too-large"


def test_a_doctype_mentioned_in_documentation_is_text_not_a_dtd():
    documented = model('<bpmn:userTask id="a"><bpmn:documentation>never write &lt;!DOCTYPE&gt; or <![CDATA[<!DOCTYPE x>]]>'
                       '</bpmn:documentation></bpmn:userTask>')
    assert "a" in build_specs([("doc.bpmn", documented)], "p").spec.task_specs
