"""SVG rendering from BPMN-DI: the MIWG reference models, highlights, escaping and the odd corners of DI."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from engine.bpmn.render import diagram_ids, render_svg
from engine.bpmn.xml import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, parse_xml
from engine.errors import InvalidInput

MIWG = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "miwg"
MIWG_FILES = sorted(MIWG.glob("*.bpmn"))
SVG = "{http://www.w3.org/2000/svg}"


def shape(element_id: str, x: float, y: float, w: float, h: float, label: tuple | None = None, **attrs: str) -> str:
    """Return a BPMNShape, optionally with label bounds (x, y, w, h)."""
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    inner = f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/>'
    if label:
        lx, ly, lw, lh = label
        inner += f'<bpmndi:BPMNLabel><dc:Bounds x="{lx}" y="{ly}" width="{lw}" height="{lh}"/></bpmndi:BPMNLabel>'
    return f'<bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}"{extra}>{inner}</bpmndi:BPMNShape>'


def edge(element_id: str, *points: tuple[float, float]) -> str:
    """Return a BPMNEdge through the given waypoints."""
    waypoints = "".join(f'<di:waypoint x="{x}" y="{y}"/>' for x, y in points)
    return f'<bpmndi:BPMNEdge id="{element_id}_di" bpmnElement="{element_id}">{waypoints}</bpmndi:BPMNEdge>'


def model(elements: str, *planes: str, root_extra: str = "") -> etree._ElementTree:
    """Return a parsed file with one executable process and one diagram per plane content."""
    diagrams = "".join(f'<bpmndi:BPMNDiagram id="Diagram_{i}" name="View {i}"><bpmndi:BPMNPlane id="Plane_{i}" '
                       f'bpmnElement="P">{plane}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>' for i, plane in enumerate(planes))
    return parse_xml(f'<definitions xmlns="{BPMN_NS}" xmlns:bpmndi="{BPMNDI_NS}" xmlns:dc="{DC_NS}" xmlns:di="{DI_NS}" '
                     f'id="D">{root_extra}<process id="P" isExecutable="true">{elements}</process>{diagrams}'
                     f'</definitions>', "sample.bpmn")


SAMPLE_ELEMENTS = """
  <startEvent id="Start" name="Application received"/>
  <userTask id="Review" name="Review the application"/>
  <exclusiveGateway id="Decide" name="Approved?" default="No"/>
  <endEvent id="Done" name="Licence issued"/>
  <endEvent id="Rejected" name="Rejected"/>
  <sequenceFlow id="F1" sourceRef="Start" targetRef="Review"/>
  <sequenceFlow id="F2" sourceRef="Review" targetRef="Decide"/>
  <sequenceFlow id="Yes" name="yes" sourceRef="Decide" targetRef="Done"><conditionExpression>ok</conditionExpression></sequenceFlow>
  <sequenceFlow id="No" sourceRef="Decide" targetRef="Rejected"/>
"""
SAMPLE_DI = "".join([
    shape("Start", 150, 100, 36, 36, label=(130, 140, 76, 27)), shape("Review", 230, 78, 100, 80),
    shape("Decide", 380, 93, 50, 50, isMarkerVisible="true"), shape("Done", 480, 100, 36, 36),
    shape("Rejected", 480, 200, 36, 36),
    edge("F1", (186, 118), (230, 118)), edge("F2", (330, 118), (380, 118)), edge("Yes", (430, 118), (480, 118)),
    edge("No", (405, 143), (405, 218), (480, 218)),
])


def render(tree: etree._ElementTree, **kwargs: object) -> etree._Element:
    """Render and parse back, proving the output is well-formed XML."""
    return etree.fromstring(render_svg(tree, **kwargs).encode())


def group(svg: etree._Element, svg_id: str) -> etree._Element:
    """Return the <g> with the given id."""
    found = svg.xpath("//*[@id=$i]", i=svg_id)
    assert len(found) == 1, f"expected one element with id {svg_id}, found {len(found)}"
    return found[0]


def test_miwg_folder_is_there() -> None:
    assert len(MIWG_FILES) >= 8, f"MIWG reference models missing under {MIWG}"


@pytest.mark.parametrize("path", MIWG_FILES, ids=lambda p: p.name)
def test_miwg_every_di_element_becomes_an_svg_group(path: Path) -> None:
    tree = parse_xml(path.read_bytes(), path.name)
    svg = render(tree)
    assert svg.tag == f"{SVG}svg"
    svg_ids = {node.get("id") for node in svg.iter() if isinstance(node.tag, str)}
    model_types = {n.get("id"): etree.QName(n).localname for n in tree.iter(f"{{{BPMN_NS}}}*") if n.get("id")}
    di = list(tree.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"))
    assert di, "reference model without DI"
    for node in di:
        element_id = node.get("bpmnElement")
        assert element_id in svg_ids, f"{path.name}: {element_id} was not drawn"
        assert group(svg, element_id).get("data-bpmn-type") == model_types.get(element_id, "unknown")


@pytest.mark.parametrize("path", MIWG_FILES, ids=lambda p: p.name)
def test_miwg_svg_is_standalone_and_covers_every_waypoint(path: Path) -> None:
    tree = parse_xml(path.read_bytes(), path.name)
    text = render_svg(tree)
    svg = etree.fromstring(text.encode())
    assert not [n for n in svg.iter() if isinstance(n.tag, str) and etree.QName(n).localname in ("script", "image",
                                                                                                  "foreignObject")]
    assert "href" not in text and "javascript:" not in text
    assert re.findall(r"url\(([^)]*)\)", text) and all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", text))
    x, y, w, h = (float(v) for v in svg.get("viewBox").split())
    for point in tree.iter(f"{{{DI_NS}}}waypoint"):
        assert x <= float(point.get("x")) <= x + w and y <= float(point.get("y")) <= y + h


def test_shapes_are_drawn_by_type() -> None:
    svg = render(model(SAMPLE_ELEMENTS, SAMPLE_DI))
    assert group(svg, "Start").find(f"{SVG}circle").get("stroke-width") == "1.5"
    assert group(svg, "Done").find(f"{SVG}circle").get("stroke-width") == "4"
    assert group(svg, "Review").find(f"{SVG}rect").get("rx") == "10"
    assert group(svg, "Review").find(f"{SVG}g[@class='marker']") is not None  # the user icon
    assert group(svg, "Decide").find(f"{SVG}polygon") is not None
    assert group(svg, "Decide").find(f"{SVG}path[@class='marker']") is not None  # the X
    assert group(svg, "F1").find(f"{SVG}path").get("marker-end") == "url(#ow-arrow)"
    assert len(group(svg, "No").findall(f"{SVG}path")) == 2  # the line plus the default-flow slash


def test_highlights_become_classes_and_unknown_states_are_ignored() -> None:
    states = {"Start": "completed", "Review": "active", "Decide": "overdue", "Done": "bogus", "F1": "completed"}
    text = render_svg(model(SAMPLE_ELEMENTS, SAMPLE_DI), highlights=states)
    svg = etree.fromstring(text.encode())
    assert "completed" in group(svg, "Start").get("class").split()
    assert "active" in group(svg, "Review").get("class").split()
    assert "overdue" in group(svg, "Decide").get("class").split()
    assert "completed" in group(svg, "F1").get("class").split()
    assert "bogus" not in group(svg, "Done").get("class")
    style = svg.find(f"{SVG}style").text
    assert "g.active .body" in style and "g.overdue .body" in style and "g.completed .body" in style


def test_hostile_names_are_escaped() -> None:
    tree = model(SAMPLE_ELEMENTS, SAMPLE_DI)
    hostile = '<script>alert("x")</script> & <img src=x onerror=1>'
    tree.getroot().find(f".//{{{BPMN_NS}}}userTask").set("name", hostile)
    tree.getroot().find(f".//{{{BPMN_NS}}}userTask").set("id", 'Review"><script>')
    tree.getroot().find(f".//{{{BPMNDI_NS}}}BPMNShape[@bpmnElement='Review']").set("bpmnElement", 'Review"><script>')
    text = render_svg(tree)
    svg = etree.fromstring(text.encode())
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert not [n for n in svg.iter() if isinstance(n.tag, str) and etree.QName(n).localname in ("script", "img")]
    drawn = "".join(group(svg, 'Review"><script>').itertext()).replace("\n", "")
    assert "<script>" in drawn and "onerror" in drawn


def test_file_without_diagram_reports_no_diagram() -> None:
    tree = model(SAMPLE_ELEMENTS)
    with pytest.raises(InvalidInput) as caught:
        render_svg(tree)
    assert [f.code for f in caught.value.findings] == ["no-diagram"]
    assert diagram_ids(tree) == []


def test_multiple_diagrams_are_chosen_by_index() -> None:
    tree = model(SAMPLE_ELEMENTS, SAMPLE_DI, shape("Review", 0, 0, 100, 80))
    assert diagram_ids(tree) == ["Diagram_0", "Diagram_1"]
    second = render(tree, diagram_index=1)
    assert second.get("data-diagram-id") == "Diagram_1"
    assert [g.get("id") for g in second.iter(f"{SVG}g") if g.get("data-bpmn-type")] == ["Review"]
    with pytest.raises(InvalidInput) as caught:
        render_svg(tree, diagram_index=2)
    assert caught.value.findings[0].code == "no-diagram"


def test_element_drawn_twice_gets_unique_ids() -> None:
    svg = render(model(SAMPLE_ELEMENTS, SAMPLE_DI + shape("Review", 600, 78, 100, 80)))
    assert group(svg, "Review").get("data-bpmn-type") == "userTask"
    assert group(svg, "Review-2").get("data-bpmn-type") == "userTask"


def test_marker_ids_cannot_be_shadowed_by_elements() -> None:
    elements = SAMPLE_ELEMENTS.replace('"Review"', '"ow-arrow"')
    svg = render(model(elements, SAMPLE_DI.replace('"Review"', '"ow-arrow"')))
    assert group(svg, "ow-arrow").tag == f"{SVG}marker"
    assert group(svg, "ow-arrow-2").get("data-bpmn-type") == "userTask"


def test_element_missing_from_the_model_renders_as_generic_box() -> None:
    svg = render(model(SAMPLE_ELEMENTS, SAMPLE_DI + shape("Ghost", 600, 300, 100, 80) + edge("GhostFlow", (0, 0), (9, 9))))
    ghost = group(svg, "Ghost")
    assert ghost.get("data-bpmn-type") == "unknown" and "missing" in ghost.get("class")
    assert ghost.find(f"{SVG}rect") is not None
    assert group(svg, "GhostFlow").find(f"{SVG}path") is not None


def test_negative_coordinates_fit_in_the_viewbox() -> None:
    svg = render(model(SAMPLE_ELEMENTS, shape("Review", -500, -300, 100, 80) + edge("F1", (-600, -400), (10, 10))))
    x, y, w, h = (float(v) for v in svg.get("viewBox").split())
    assert x <= -600 and y <= -400 and x + w >= 10 and y + h >= 10


def test_labels_use_label_bounds_and_wrap_long_names() -> None:
    elements = SAMPLE_ELEMENTS.replace("Review the application",
                                       "Review the application documents and check the shop floor plan carefully")
    svg = render(model(elements, SAMPLE_DI))
    assert len(group(svg, "Review").findall(f".//{SVG}tspan")) >= 3
    start_label = group(svg, "Start").findall(f".//{SVG}tspan")
    assert {t.get("x") for t in start_label} == {"168"}  # centre of the label bounds 130 + 76 / 2
    assert all(130 <= float(t.get("y")) <= 175 for t in start_label)


def test_chinese_names_wrap_between_characters() -> None:
    elements = SAMPLE_ELEMENTS.replace("Review the application", "食品经营许可证申请材料审查与现场核查")
    lines = [t.text for t in group(render(model(elements, SAMPLE_DI)), "Review").iter(f"{SVG}tspan")]
    assert len(lines) >= 2 and "".join(lines) == "食品经营许可证申请材料审查与现场核查"


def test_collaboration_pools_lanes_message_flows_and_artifacts() -> None:
    elements = """
      <laneSet id="LS"><lane id="Clerk" name="Clerk"><flowNodeRef>T</flowNodeRef></lane></laneSet>
      <callActivity id="T" name="Check"/><subProcess id="Sub" name="Inspect"/>
      <boundaryEvent id="B" attachedToRef="T" cancelActivity="false"><timerEventDefinition/></boundaryEvent>
      <dataStoreReference id="Store" name="Archive"/><textAnnotation id="Note"><text>see rule 7</text></textAnnotation>
      <association id="A" sourceRef="Note" targetRef="T"/>"""
    collab = ('<collaboration id="C"><participant id="Office" name="Service office" processRef="P"/>'
              '<participant id="Citizen" name="Applicant"/><messageFlow id="M" sourceRef="Citizen" targetRef="T"/>'
              '</collaboration><category id="Cat"><categoryValue id="CV" value="Front desk"/></category>')
    plane = "".join([
        shape("Office", 0, 0, 600, 250, isHorizontal="true"), shape("Clerk", 30, 0, 570, 250, isHorizontal="true"),
        shape("Citizen", 0, 300, 600, 60), shape("T", 100, 50, 100, 80), shape("Sub", 250, 50, 100, 80),
        shape("B", 170, 112, 36, 36), shape("Store", 400, 50, 50, 50), shape("Note", 450, 150, 100, 30),
        shape("Grp", 80, 30, 300, 150), edge("A", (450, 165), (200, 100)), edge("M", (150, 300), (150, 130)),
    ])
    elements += '<group id="Grp" categoryValueRef="CV"/>'
    svg = render(model(elements, plane, root_extra=collab))
    office_label = group(svg, "Office").find(f"{SVG}text")
    assert office_label.get("transform").startswith("rotate(-90") and "Service office" in "".join(office_label.itertext())
    assert "Applicant" in "".join(group(svg, "Citizen").itertext())
    assert group(svg, "T").find(f"{SVG}rect").get("stroke-width") == "4"
    assert group(svg, "Sub").find(f"{SVG}path[@class='marker']") is not None  # collapsed "+"
    assert len(group(svg, "B").findall(f"{SVG}circle")) == 2 and group(svg, "B").find(f"{SVG}circle").get(
        "stroke-dasharray")
    assert "see rule 7" in "".join(group(svg, "Note").itertext())
    assert "Front desk" in "".join(group(svg, "Grp").itertext())
    assert group(svg, "M").find(f"{SVG}path").get("marker-start") == "url(#ow-msg-start)"
    assert group(svg, "A").find(f"{SVG}path").get("stroke-dasharray") == "2 3"
    assert group(svg, "Store").get("data-bpmn-type") == "dataStoreReference"


_TYPES = ["task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask", "businessRuleTask",
          "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent", "boundaryEvent",
          "intermediateCatchEvent", "intermediateThrowEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
          "eventBasedGateway", "complexGateway", "dataObjectReference", "dataStoreReference", "textAnnotation",
          "group", "participant", "lane", "sequenceFlow"]
_DEFS = ["", "<timerEventDefinition/>", "<messageEventDefinition/>", "<errorEventDefinition/>",
         "<signalEventDefinition/><escalationEventDefinition/>", "<multiInstanceLoopCharacteristics/>"]
_coord = st.floats(min_value=-1e5, max_value=1e5, allow_nan=False)


_names = st.text(st.characters(min_codepoint=32, max_codepoint=0xFFFD, exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TYPES), st.sampled_from(_DEFS), _names, _coord, _coord,
                          st.floats(min_value=0, max_value=500), st.floats(min_value=0, max_value=500)),
                min_size=1, max_size=12))
def test_any_mix_of_shapes_renders_well_formed_svg(items: list[tuple]) -> None:
    elements, plane = "", ""
    for i, (kind, inner, name, x, y, w, h) in enumerate(items):
        node = etree.Element(kind, id=f"E{i}", name=name)
        node.text = "INNER"
        elements += etree.tostring(node, encoding="unicode").replace("INNER", inner)
        plane += shape(f"E{i}", x, y, w, h) if i % 3 else edge(f"E{i}", (x, y), (x + w, y + h))
    svg = render(model(elements, plane))
    ids = {n.get("id") for n in svg.iter() if isinstance(n.tag, str)}
    assert {f"E{i}" for i in range(len(items))} <= ids
