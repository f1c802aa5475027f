"""Draw a BPMN diagram as standalone SVG from its BPMN-DI; every shape is a `<g id=…>` the web UI can highlight."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

from lxml import etree

from engine.bpmn.xml import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, local_name
from engine.errors import Finding, InvalidInput

SVG_NS = "http://www.w3.org/2000/svg"
HIGHLIGHT_STATES = frozenset({"completed", "active", "overdue"})
MARGIN = 20.0
FONT_SIZE = 11.0
LINE_HEIGHT = 13.0

# Presentation attributes give the plain look; these rules override them (CSS beats attributes) for highlights.
_STYLE = """
.label{font-family:Arial,Helvetica,sans-serif;font-size:11px;fill:#222;stroke:#fff;stroke-width:3px;paint-order:stroke;stroke-linejoin:round}
g.completed .body{stroke:#2e7d32;fill:#e7efe7}
g.completed .line{stroke:#2e7d32}
g.active .body{stroke:#1565c0;stroke-width:4px;fill:#e3f2fd}
g.active .line{stroke:#1565c0;stroke-width:3px}
g.overdue .body{stroke:#c62828;stroke-width:3px;fill:#ffebee}
g.overdue .line{stroke:#c62828;stroke-width:2px}
g.missing .body{stroke-dasharray:4 3}
"""

_TASKS = {"task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask", "businessRuleTask"}
_CONTAINERS = {"subProcess", "transaction", "adHocSubProcess", "callActivity"}
_EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
           "implicitThrowEvent"}
_GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway", "gateway"}
_DATA = {"dataObject", "dataObjectReference", "dataInput", "dataOutput"}
_STORES = {"dataStore", "dataStoreReference"}

# Event glyphs in a 36-unit event: (outline, detail, mode). mode "fill" is black on throw events, white on catch;
# "plain" is always white; "solid" always black. Details are stroked in the contrasting colour.
_EVENT_GLYPHS: dict[str, tuple[str, str, str]] = {
    "message": ("M-8 -6h16v12h-16z", "M-8 -6l8 6l8 -6", "fill"),
    "timer": ("M0 -9a9 9 0 1 1 0 18a9 9 0 1 1 0 -18z", "M0 -9v3M0 9v-3M-9 0h3M9 0h-3M0 0v-6M0 0l4 2", "plain"),
    "error": ("M-7 7L-3 -7L2 1L7 -7L3 7L-2 -1z", "", "fill"),
    "escalation": ("M0 -8L6 7L0 2L-6 7z", "", "fill"),
    "signal": ("M0 -8L7.5 5.5H-7.5z", "", "fill"),
    "conditional": ("M-6 -8h12v16h-12z", "M-4 -4h8M-4 0h8M-4 4h8", "plain"),
    "link": ("M-7 -3h7v-4l7 7l-7 7v-4h-7z", "", "fill"),
    "terminate": ("M0 -10a10 10 0 1 1 0 20a10 10 0 1 1 0 -20z", "", "solid"),
    "compensate": ("M0 -6L-7 0L0 6zM7 -6L0 0L7 6z", "", "fill"),
    "cancel": ("M-6 -8L0 -2L6 -8L8 -6L2 0L8 6L6 8L0 2L-6 8L-8 6L-2 0L-8 -6z", "", "fill"),
    "multiple": ("M0 -8L7.6 -2.5L4.7 6.5H-4.7L-7.6 -2.5z", "", "fill"),
    "parallelMultiple": ("M-2.5 -8h5v5.5h5.5v5h-5.5v5.5h-5v-5.5h-5.5v-5h5.5z", "", "fill"),
}
# Gateway markers in a 50-unit diamond: (path, filled).
_GATEWAY_GLYPHS: dict[str, tuple[str, bool]] = {
    "exclusiveGateway": ("M-8 -11L0 -3L8 -11L11 -8L3 0L11 8L8 11L0 3L-8 11L-11 8L-3 0L-11 -8z", True),
    "parallelGateway": ("M-2 -12h4v10h10v4h-10v10h-4v-10h-10v-4h10z", True),
    "inclusiveGateway": ("M0 -10.5a10.5 10.5 0 1 1 0 21a10.5 10.5 0 1 1 0 -21z", False),
    "complexGateway": ("M0 -12V12M-12 0H12M-8.5 -8.5L8.5 8.5M8.5 -8.5L-8.5 8.5", False),
    "eventBasedGateway": ("M0 -13a13 13 0 1 1 0 26a13 13 0 1 1 0 -26zM0 -10.5a10.5 10.5 0 1 1 0 21a10.5 10.5 0 1 1 0 -21z"
                          "M0 -6.5L6.2 -2L3.8 5.3H-3.8L-6.2 -2z", False),
}
# Task-type icons in a 16-unit box at the top-left corner: (filled outline, stroked detail).
_TASK_ICONS: dict[str, tuple[str, str]] = {
    "userTask": ("M2 16C2 9.5 14 9.5 14 16zM8 1.5a3.5 3.5 0 1 1 0 7a3.5 3.5 0 1 1 0 -7z", ""),
    "serviceTask": ("M8 3.5a4.5 4.5 0 1 1 0 9a4.5 4.5 0 1 1 0 -9z", "M8 6a2 2 0 1 1 0 4a2 2 0 1 1 0 -4z"),
    "scriptTask": ("", "M4 1H14C11 5 15 10 12 15H2C5 10 1 5 4 1zM5 5h6M6 8h6M5 11h6"),
    "sendTask": ("M1 3h15v10h-15z", "M1 3l7.5 6l7.5 -6"),
    "receiveTask": ("", "M1 3h15v10h-15zM1 3l7.5 6l7.5 -6"),
    "manualTask": ("", "M1 6h10M4 9h10M4 12h9M3 15h8M1 6v9h2M11 6l-3 -4"),
    "businessRuleTask": ("M0 2h16v4h-16z", "M0 2h16v12h-16zM0 10h16M5 6v8"),
}
# Bottom-centre activity markers in a 14-unit box.
_LOOP_MARKERS: dict[str, str] = {
    "loop": "M3 10A5 5 0 1 1 10 11.5M3 10l-2.5 0.5M3 10l0.5 -3",
    "parallel": "M3 1v12M7 1v12M11 1v12",
    "sequential": "M1 3h12M1 7h12M1 11h12",
    "collapsed": "M0 0h14v14h-14zM7 3v8M3 7h8",
    "adhoc": "M1 8c2 -4 4 -4 6 0s4 4 6 0",
    "compensation": "M7 3L1 7L7 11zM13 3L7 7L13 11z",
}
_CJK = "\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+|\s+")
_WIDE = re.compile(f"[{_CJK}]")


def diagram_ids(tree: etree._ElementTree) -> list[str]:
    """Return the ids of the file's BPMNDiagrams in document order (generated for diagrams lacking one)."""
    return [d.get("id") or f"diagram-{i}" for i, d in enumerate(_diagrams(tree))]


def render_svg(tree: etree._ElementTree, highlights: Mapping[str, str] | None = None, diagram_index: int = 0) -> str:
    """Render one BPMNDiagram as a standalone SVG string; highlight states become CSS classes on the shapes."""
    diagrams = _diagrams(tree)
    plane = diagrams[diagram_index].find(f"{{{BPMNDI_NS}}}BPMNPlane") if 0 <= diagram_index < len(diagrams) else None
    if plane is None:
        why = "the file has no BPMN diagram (BPMNDiagram/BPMNPlane)" if not diagrams else \
            f"diagram {diagram_index} does not exist or has no plane (the file has {len(diagrams)})"
        finding = Finding(code="no-diagram", message=why, line=_root(tree).sourceline,
                          hint="open and save the file in a modeler so it writes the diagram layout (BPMN-DI)")
        raise InvalidInput(str(finding), findings=[finding])
    return _Renderer(tree, highlights or {}).render(diagrams[diagram_index], plane)


def _root(tree: etree._ElementTree | etree._Element) -> etree._Element:
    return tree.getroot() if isinstance(tree, etree._ElementTree) else tree


def _diagrams(tree: etree._ElementTree | etree._Element) -> list[etree._Element]:
    return list(_root(tree).iter(f"{{{BPMNDI_NS}}}BPMNDiagram"))


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _float(value: str | None) -> float:
    try:
        number = float(value or 0)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) else 0.0


def _bounds(node: etree._Element | None) -> tuple[float, float, float, float] | None:
    box = node.find(f"{{{DC_NS}}}Bounds") if node is not None else None
    if box is None:
        return None
    return _float(box.get("x")), _float(box.get("y")), max(_float(box.get("width")), 0), max(_float(box.get("height")), 0)


def _text_width(text: str) -> float:
    # No font metrics in a pure-Python renderer: estimate, with CJK glyphs about twice as wide as Latin ones.
    return sum(FONT_SIZE if _WIDE.match(ch) else FONT_SIZE * 0.55 for ch in text)


def _wrap(text: str, width: float, max_lines: int = 8) -> list[str]:
    """Greedy word wrap; CJK text may break between any two characters."""
    lines: list[str] = []
    for paragraph in text[:500].splitlines():
        line = ""
        for token in _TOKEN.findall(paragraph):
            if token.isspace():
                line += " " if line else ""
                continue
            while _text_width(line + token) > width and (line.strip() or _text_width(token) > width):
                if line.strip():
                    lines.append(line.rstrip())
                    line = ""
                    continue
                # A single word wider than the box: cut it where it overflows (at least one character).
                cut, used = 0, 0.0
                while cut < len(token) and used + _text_width(token[cut]) <= width:
                    used += _text_width(token[cut])
                    cut += 1
                cut = max(cut, 1)
                lines.append(token[:cut])
                token = token[cut:]
            line += token
        if line.strip():
            lines.append(line.rstrip())
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [lines[max_lines - 1] + "…"]
    return lines


def _el(parent: etree._Element, tag: str, **attrs: object) -> etree._Element:
    node = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
    for key, value in attrs.items():
        node.set(key.rstrip("_").replace("_", "-"), _num(value) if isinstance(value, float | int) else str(value))
    return node


class _Renderer:
    """Holds one rendering's state: semantic index, used SVG ids and the extent of what was drawn."""

    def __init__(self, tree: etree._ElementTree | etree._Element, highlights: Mapping[str, str]):
        self.model = {n.get("id"): n for n in _root(tree).iter(f"{{{BPMN_NS}}}*") if n.get("id")}
        self.highlights = highlights
        self.xs: list[float] = []
        self.ys: list[float] = []
        # Reserve our own marker ids so a BPMN element named like one cannot shadow it.
        self.used = {"ow-arrow", "ow-open-arrow", "ow-msg-start", "ow-msg-end", "ow-cond"}

    def render(self, diagram: etree._Element, plane: etree._Element) -> str:
        svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        svg.set("class", "bpmn-diagram")
        svg.set("data-diagram-id", diagram.get("id") or "")
        if diagram.get("name"):
            _el(svg, "title").text = diagram.get("name")
        _el(svg, "style").text = _STYLE
        self._defs(_el(svg, "defs"))
        shapes = [(s, self.model.get(s.get("bpmnElement"))) for s in plane.iter(f"{{{BPMNDI_NS}}}BPMNShape")]
        boxes = [b for s, _ in shapes if (b := _bounds(s))]
        layered = sorted(((self._layer(di, sem, boxes), i, di, sem) for i, (di, sem) in enumerate(shapes)),
                         key=lambda item: item[:2])
        # Edges go above every shape except groups, so no arrow is hidden behind a pool or a subprocess.
        for layer, _, di, sem in layered:
            if layer[0] < 4:
                self._shape(svg, di, sem, boxes)
        for di in plane.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
            self._edge(svg, di, self.model.get(di.get("bpmnElement")))
        for layer, _, di, sem in layered:
            if layer[0] >= 4:
                self._shape(svg, di, sem, boxes)
        x0, y0 = min(self.xs, default=0) - MARGIN, min(self.ys, default=0) - MARGIN
        w, h = max(self.xs, default=60) + MARGIN - x0, max(self.ys, default=60) + MARGIN - y0
        svg.set("viewBox", f"{_num(x0)} {_num(y0)} {_num(w)} {_num(h)}")
        svg.set("width", _num(w))
        svg.set("height", _num(h))
        return etree.tostring(svg, encoding="unicode")

    def _defs(self, defs: etree._Element) -> None:
        def marker(mid: str, path: str, fill: str, ref: tuple[float, float]) -> None:
            m = _el(defs, "marker", id=mid, viewBox="0 0 20 20", refX=ref[0], refY=ref[1], markerWidth=12,
                    markerHeight=12, orient="auto", markerUnits="userSpaceOnUse")
            _el(m, "path", d=path, fill=fill, stroke="#000", stroke_width=1.5)
        marker("ow-arrow", "M1 4L19 10L1 16z", "#000", (19, 10))
        marker("ow-open-arrow", "M1 3L19 10L1 17", "none", (19, 10))
        marker("ow-msg-end", "M1 4L19 10L1 16z", "#fff", (19, 10))
        marker("ow-msg-start", "M10 4a6 6 0 1 1 0 12a6 6 0 1 1 0 -12z", "#fff", (4, 10))
        marker("ow-cond", "M1 10L10 4L19 10L10 16z", "#fff", (1, 10))

    def _layer(self, di: etree._Element, sem: etree._Element | None, boxes: list) -> tuple[int, float]:
        # Pools under lanes under expanded containers (bigger first) under the rest; groups float on top.
        kind = local_name(sem) if sem is not None else ""
        box = _bounds(di) or (0, 0, 0, 0)
        if kind == "participant":
            return 0, 0
        if kind == "lane":
            return 1, 0
        if kind in _CONTAINERS and self._expanded(di, box, boxes):
            return 2, -box[2] * box[3]
        return (5, 0) if kind == "group" else (3, 0)

    @staticmethod
    def _expanded(di: etree._Element, box: tuple, boxes: list) -> bool:
        if di.get("isExpanded") is not None:
            return di.get("isExpanded") == "true"
        # No flag: treat it as expanded when other shapes are drawn inside it.
        x, y, w, h = box
        return any(b != box and x <= b[0] and y <= b[1] and b[0] + b[2] <= x + w and b[1] + b[3] <= y + h for b in boxes)

    def _group(self, svg: etree._Element, element_id: str | None, kind: str, category: str) -> etree._Element:
        base = element_id or "unnamed"
        svg_id, n = base, 1
        while svg_id in self.used:
            n += 1
            svg_id = f"{base}-{n}"
        self.used.add(svg_id)
        classes = [category, kind]
        state = self.highlights.get(element_id or "")
        if state in HIGHLIGHT_STATES:
            classes.append(state)
        if kind == "unknown":
            classes.append("missing")
        return _el(svg, "g", id=svg_id, class_=" ".join(classes), data_bpmn_type=kind)

    def _extend(self, x: float, y: float, w: float = 0, h: float = 0) -> None:
        self.xs += [x, x + w]
        self.ys += [y, y + h]

    # -- shapes ------------------------------------------------------------------------------------------------

    def _shape(self, svg: etree._Element, di: etree._Element, sem: etree._Element | None, boxes: list) -> None:
        kind = local_name(sem) if sem is not None else "unknown"
        g = self._group(svg, di.get("bpmnElement"), kind, "shape")
        box = _bounds(di)
        if box is None:
            return
        x, y, w, h = box
        self._extend(*box)
        name = (sem.get("name") or "") if sem is not None else ""
        label_box = _bounds(di.find(f"{{{BPMNDI_NS}}}BPMNLabel"))
        placement = "centre"
        if kind in _EVENTS:
            self._event(g, sem, kind, box)
            placement = "below"
        elif kind in _GATEWAYS:
            self._gateway(g, di, sem, kind, box)
            placement = "below"
        elif kind in _DATA or kind in _STORES or kind == "message":
            self._data(g, sem, kind, box)
            placement = "below"
        elif kind == "textAnnotation":
            _el(g, "path", d=f"M{_num(x + 15)} {_num(y)}h-15v{_num(h)}h15", fill="none", stroke="#000")
            _el(g, "rect", x=x, y=y, width=w, height=h, fill="none", stroke="none", class_="body")
            name = sem.findtext(f"{{{BPMN_NS}}}text") or ""
            placement = "annotation"
        elif kind == "group":
            _el(g, "rect", x=x, y=y, width=w, height=h, rx=10, fill="none", stroke="#000",
                stroke_dasharray="8 3 1 3", class_="group-frame")
            value = self.model.get(sem.get("categoryValueRef") or "")
            if not name and value is not None:
                name = value.get("value") or ""
            placement = "top"
        elif kind in ("participant", "lane"):
            placement = self._pool(g, di, sem, kind, box)
        elif kind in _TASKS or kind in _CONTAINERS:
            expanded = kind in _CONTAINERS and self._expanded(di, box, boxes)
            self._activity(g, sem, kind, box, expanded)
            placement = "top-left" if expanded else "centre"
        else:
            _el(g, "rect", x=x, y=y, width=w, height=h, rx=4, fill="#fff", stroke="#000", class_="body")
            name = name or (di.get("bpmnElement") or "")
        if name.strip():
            self._label(g, name, label_box, box, placement)

    def _event(self, g: etree._Element, sem: etree._Element, kind: str, box: tuple) -> None:
        x, y, w, h = box
        cx, cy, r = x + w / 2, y + h / 2, min(w, h) / 2
        dashed = sem.get("cancelActivity") == "false" or sem.get("isInterrupting") == "false"
        dash = {"stroke_dasharray": "5 3"} if dashed and kind in ("boundaryEvent", "startEvent") else {}
        width = 4.0 if kind == "endEvent" else 1.5
        _el(g, "circle", cx=cx, cy=cy, r=max(r - width / 2, 1), fill="#fff", stroke="#000", stroke_width=width,
            class_="body", **dash)
        if kind in ("intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "implicitThrowEvent"):
            _el(g, "circle", cx=cx, cy=cy, r=max(r - 3.5, 1), fill="none", stroke="#000", stroke_width=1.2, **dash)
        defs = [local_name(c)[:-len("EventDefinition")] for c in sem if local_name(c).endswith("EventDefinition")]
        for ref in sem.iter(f"{{{BPMN_NS}}}eventDefinitionRef"):
            target = self.model.get((ref.text or "").strip())
            if target is not None and local_name(target).endswith("EventDefinition"):
                defs.append(local_name(target)[:-len("EventDefinition")])
        if not defs:
            return
        glyph = defs[0] if len(defs) == 1 else ("parallelMultiple" if sem.get("parallelMultiple") == "true" else "multiple")
        outline, detail, mode = _EVENT_GLYPHS.get(glyph, _EVENT_GLYPHS["multiple"])
        filled = mode == "solid" or (mode == "fill" and kind in ("endEvent", "intermediateThrowEvent"))
        mark = _el(g, "g", transform=f"translate({_num(cx)} {_num(cy)}) scale({_num(r / 18)})", class_="marker")
        _el(mark, "path", d=outline, fill="#000" if filled else "#fff", stroke="#000", stroke_width=1.2)
        if detail:
            _el(mark, "path", d=detail, fill="none", stroke="#fff" if filled else "#000", stroke_width=1.2)

    def _gateway(self, g: etree._Element, di: etree._Element, sem: etree._Element, kind: str, box: tuple) -> None:
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        _el(g, "polygon", points=" ".join(_num(v) for v in (cx, y, x + w, cy, cx, y + h, x, cy)), fill="#fff",
            stroke="#000", stroke_width=1.5, class_="body")
        if kind == "exclusiveGateway" and di.get("isMarkerVisible") == "false":
            return
        path, filled = _GATEWAY_GLYPHS.get(kind, ("", False))
        if kind == "eventBasedGateway" and sem.get("eventGatewayType") == "Parallel":
            path = "M0 -13a13 13 0 1 1 0 26a13 13 0 1 1 0 -26z" + _EVENT_GLYPHS["parallelMultiple"][0]
        if path:
            _el(g, "path", d=path, transform=f"translate({_num(cx)} {_num(cy)}) scale({_num(min(w, h) / 50)})",
                fill="#000" if filled else "none", stroke="#000", stroke_width=1.5 if kind == "eventBasedGateway" else 3,
                class_="marker")

    def _data(self, g: etree._Element, sem: etree._Element, kind: str, box: tuple) -> None:
        x, y, w, h = box
        if kind in _STORES:
            ry = min(h * 0.12, 8)
            arc = f"a{_num(w / 2)} {_num(ry)} 0 0 0 {_num(w)} 0"
            back = f"a{_num(w / 2)} {_num(ry)} 0 0 0 {_num(-w)} 0"
            _el(g, "path", d=f"M{_num(x)} {_num(y + ry)}{arc}{back}v{_num(h - 2 * ry)}{arc}v{_num(2 * ry - h)}",
                fill="#fff", stroke="#000", stroke_width=1.5, class_="body")
            for k in (1, 2):
                _el(g, "path", d=f"M{_num(x)} {_num(y + ry + k * ry * 0.6)}{arc}", fill="none", stroke="#000")
            return
        if kind == "message":
            _el(g, "rect", x=x, y=y, width=w, height=h, fill="#fff", stroke="#000", class_="body")
            _el(g, "path", d=f"M{_num(x)} {_num(y)}l{_num(w / 2)} {_num(h / 2)}l{_num(w / 2)} {_num(-h / 2)}",
                fill="none", stroke="#000")
            return
        fold = min(w, h) * 0.3
        _el(g, "path", d=f"M{_num(x)} {_num(y)}h{_num(w - fold)}l{_num(fold)} {_num(fold)}v{_num(h - fold)}"
            f"h{_num(-w)}z", fill="#fff", stroke="#000", stroke_width=1.5, class_="body")
        _el(g, "path", d=f"M{_num(x + w - fold)} {_num(y)}v{_num(fold)}h{_num(fold)}", fill="none", stroke="#000")
        target = self.model.get(sem.get("dataObjectRef") or "") if kind == "dataObjectReference" else sem
        if target is not None and target.get("isCollection") == "true":
            _el(g, "path", d=_LOOP_MARKERS["parallel"], fill="none", stroke="#000", stroke_width=1.5,
                transform=f"translate({_num(x + w / 2 - 7)} {_num(y + h - 15)})")
        if kind in ("dataInput", "dataOutput"):
            _el(g, "path", d="M0 3h6v-3l6 5l-6 5v-3h-6z", fill="#000" if kind == "dataOutput" else "#fff",
                stroke="#000", transform=f"translate({_num(x + 4)} {_num(y + 4)})")

    def _activity(self, g: etree._Element, sem: etree._Element, kind: str, box: tuple, expanded: bool) -> None:
        x, y, w, h = box
        radius = min(10, w / 5, h / 5)
        width = 4.0 if kind == "callActivity" else 1.5
        dash = {"stroke_dasharray": "2 3"} if sem.get("triggeredByEvent") == "true" else {}
        _el(g, "rect", x=x, y=y, width=w, height=h, rx=radius, fill="#fff", stroke="#000", stroke_width=width,
            class_="body", **dash)
        if kind == "transaction":
            _el(g, "rect", x=x + 3, y=y + 3, width=max(w - 6, 0), height=max(h - 6, 0), rx=max(radius - 3, 0),
                fill="none", stroke="#000")
        icon_kind = kind
        called = self.model.get(sem.get("calledElement") or "") if kind == "callActivity" else None
        if called is not None and local_name(called).startswith("global"):
            # A call activity to a global task shows that task's type instead of the collapsed "+".
            inner = local_name(called)[len("global"):]
            icon_kind = inner[:1].lower() + inner[1:]
        if icon_kind in _TASK_ICONS:
            filled, stroked = _TASK_ICONS[icon_kind]
            icon = _el(g, "g", transform=f"translate({_num(x + 6)} {_num(y + 6)})", class_="marker")
            if icon_kind == "serviceTask":
                # Gear teeth: a thick dashed ring under the wheel.
                _el(icon, "circle", cx=8, cy=8, r=6, fill="none", stroke="#000", stroke_width=3,
                    stroke_dasharray="2.4 2.31")
            if filled:
                _el(icon, "path", d=filled, fill="#fff" if icon_kind in ("userTask", "serviceTask") else "#000",
                    stroke="#000")
            if stroked:
                stroke = "#fff" if icon_kind == "sendTask" else "#000"
                _el(icon, "path", d=stroked, fill="none", stroke=stroke)
        markers = []
        loop = next((c for c in sem if local_name(c).endswith("LoopCharacteristics")), None)
        if loop is not None:
            markers.append("loop" if local_name(loop) == "standardLoopCharacteristics"
                           else "sequential" if loop.get("isSequential") == "true" else "parallel")
        if kind in _CONTAINERS and not expanded and icon_kind == kind:
            markers.append("collapsed")
        if kind == "adHocSubProcess":
            markers.append("adhoc")
        if sem.get("isForCompensation") == "true":
            markers.append("compensation")
        left = x + w / 2 - (len(markers) * 18 - 4) / 2
        for i, marker in enumerate(markers):
            _el(g, "path", d=_LOOP_MARKERS[marker], fill="none", stroke="#000", stroke_width=1.5, class_="marker",
                transform=f"translate({_num(left + i * 18)} {_num(y + h - 18)})")

    def _pool(self, g: etree._Element, di: etree._Element, sem: etree._Element, kind: str, box: tuple) -> str:
        x, y, w, h = box
        horizontal = di.get("isHorizontal") != "false" if di.get("isHorizontal") is not None else w >= h
        _el(g, "rect", x=x, y=y, width=w, height=h, fill="#fff" if kind == "participant" else "none",
            stroke="#000", stroke_width=1.5 if kind == "participant" else 1, class_="body")
        if kind == "participant" and not sem.get("processRef"):
            return "centre"  # a black-box pool has no band: its name sits in the middle
        band = f"M{_num(x + 30)} {_num(y)}v{_num(h)}" if horizontal else f"M{_num(x)} {_num(y + 30)}h{_num(w)}"
        _el(g, "path", d=band, fill="none", stroke="#000")
        return "band" if horizontal else "header"

    # -- labels ------------------------------------------------------------------------------------------------

    def _label(self, g: etree._Element, name: str, label_box: tuple | None, box: tuple, placement: str) -> None:
        x, y, w, h = box
        # Where each kind of shape writes its name when the file gives no label box: wrap width, x, anchor.
        width, cx, anchor = {
            "below": (max(w * 2.5, 90), x + w / 2, "middle"),
            "top-left": (max(w - 12, 20), x + 6, "start"),
            "annotation": (max(w - 10, 20), x + 5, "start"),
            "band": (max(h - 10, 20), x + 15, "middle"),
        }.get(placement, (max(w - 10, 20), x + w / 2, "middle"))
        if label_box and label_box[2] > 0 and placement not in ("band", "header"):
            lx, ly, lw, lh = label_box
            # Names outside a shape may spread wider than the modeler measured; names inside must fit it.
            lines = _wrap(name, max(lw * 1.05, width if placement in ("below", "top-left") else 0, 30))
            spare = lh - len(lines) * LINE_HEIGHT
            # A block taller than the measured box grows away from the shape it labels.
            top = ly + spare / 2 if spare >= 0 else ly + spare if ly + lh / 2 < y + h / 2 else ly
            cx, anchor = (lx, "start") if placement == "top-left" else (lx + lw / 2, "middle")
        else:
            max_lines = 2 if placement in ("band", "header") else max(int(h // LINE_HEIGHT), 1)
            lines = _wrap(name, width, max_lines if placement in ("band", "header", "centre") else 8)
            height = len(lines) * LINE_HEIGHT
            top = {"below": y + h + 4, "top-left": y + 5, "annotation": y + 5, "top": y + 4,
                   "header": y + 15 - height / 2}.get(placement, y + h / 2 - height / 2)
        if placement == "band":
            # Lay the block out horizontally around the band centre, then turn it about that point.
            text = _el(g, "text", class_="label", text_anchor="middle",
                       transform=f"rotate(-90 {_num(cx)} {_num(y + h / 2)})")
        else:
            text = _el(g, "text", class_="label", text_anchor=anchor)
            widest = max((_text_width(line) for line in lines), default=0)
            self._extend(cx - widest / 2 if anchor == "middle" else cx, top, widest, len(lines) * LINE_HEIGHT)
        for i, line in enumerate(lines):
            _el(text, "tspan", x=cx, y=top + (i + 1) * LINE_HEIGHT - 3).text = line

    # -- edges -------------------------------------------------------------------------------------------------

    def _edge(self, svg: etree._Element, di: etree._Element, sem: etree._Element | None) -> None:
        kind = local_name(sem) if sem is not None else "unknown"
        g = self._group(svg, di.get("bpmnElement"), kind, "edge")
        points = [(_float(p.get("x")), _float(p.get("y"))) for p in di.iter(f"{{{DI_NS}}}waypoint")]
        for px, py in points:
            self._extend(px, py)
        if len(points) < 2:
            return
        style: dict[str, object] = {"marker_end": "url(#ow-arrow)"}
        if kind == "messageFlow":
            style = {"stroke_dasharray": "6 4", "marker_start": "url(#ow-msg-start)", "marker_end": "url(#ow-msg-end)"}
        elif kind == "association":
            direction = sem.get("associationDirection")
            style = {"stroke_dasharray": "2 3"}
            if direction in ("One", "Both"):
                style["marker_end"] = "url(#ow-open-arrow)"
            if direction == "Both":
                style["marker_start"] = "url(#ow-open-arrow)"
        elif kind in ("dataInputAssociation", "dataOutputAssociation"):
            style = {"stroke_dasharray": "2 3", "marker_end": "url(#ow-open-arrow)"}
        elif kind == "sequenceFlow":
            source = self.model.get(sem.get("sourceRef") or "")
            if source is not None and source.get("default") == sem.get("id"):
                self._default_slash(g, points)
            elif (source is not None and local_name(source) not in _GATEWAYS
                  and sem.find(f"{{{BPMN_NS}}}conditionExpression") is not None):
                style["marker_start"] = "url(#ow-cond)"
        d = "M" + "L".join(f"{_num(px)} {_num(py)}" for px, py in points)
        _el(g, "path", d=d, fill="none", stroke="#000", stroke_width=1.5, stroke_linejoin="round", class_="line",
            **style)
        name = (sem.get("name") or "") if sem is not None else ""
        label_box = _bounds(di.find(f"{{{BPMNDI_NS}}}BPMNLabel"))
        if name.strip():
            if not (label_box and label_box[2] > 0):
                mid = len(points) // 2
                (ax, ay), (bx, by) = points[mid - 1], points[mid]
                label_box = ((ax + bx) / 2 - 45, (ay + by) / 2 - 16, 90, 13)
            self._label(g, name, label_box, label_box, "centre")

    @staticmethod
    def _default_slash(g: etree._Element, points: list[tuple[float, float]]) -> None:
        (ax, ay), (bx, by) = points[0], points[1]
        length = math.hypot(bx - ax, by - ay) or 1
        ux, uy = (bx - ax) / length, (by - ay) / length
        px, py = ax + ux * min(12, length / 2), ay + uy * min(12, length / 2)
        # A short stroke across the line at about 60 degrees: the BPMN "default flow" mark.
        dx, dy = (ux * 0.5 - uy * 0.87) * 6, (uy * 0.5 + ux * 0.87) * 6
        _el(g, "path", d=f"M{_num(px - dx)} {_num(py - dy)}L{_num(px + dx)} {_num(py + dy)}", stroke="#000",
            stroke_width=1.5, class_="line")
