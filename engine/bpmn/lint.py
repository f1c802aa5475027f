"""Structural lint of BPMN files at the XML level: what OneWindow cannot run, and what a designer must fix first."""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from lxml import etree

from engine.bpmn.xml import ACTIVITI_NS, BPMN_NS, CAMUNDA_NS, FLOWABLE_NS, SPIFF_NS, ZEEBE_NS, local_name
from engine.errors import Finding

TIMER_RULES = frozenset({"deemed-approval", "deemed-renewal", "deemed-acceptance", "correction-expired", "step-limit",
                         "warning"})
LIMIT_PATTERN = re.compile(r"^(\d+wd|P\d+D|PT\d+H)$")
# Names of bpmn:dataStore elements the engine has an implementation for (SpiffWorkflow needs one per name).
DATA_STORE_IMPLEMENTATIONS: frozenset[str] = frozenset()

_VENDORS = (CAMUNDA_NS, ACTIVITI_NS, FLOWABLE_NS)
_TASKS = {"task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask", "businessRuleTask"}
_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess"}
_FLOW_NODES = _TASKS | _CONTAINERS - {"process"} | {
    "callActivity", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
_EXPRESSION_KINDS = {
    ("sequenceFlow", "conditionExpression"): "condition",
    ("multiInstanceLoopCharacteristics", "completionCondition"): "completion-condition",
    ("multiInstanceLoopCharacteristics", "loopCardinality"): "loop-cardinality",
    ("standardLoopCharacteristics", "loopCondition"): "loop-condition",
    ("timerEventDefinition", "timeDuration"): "time-duration",
    ("timerEventDefinition", "timeDate"): "time-date",
    ("timerEventDefinition", "timeCycle"): "time-cycle",
    ("conditionalEventDefinition", "condition"): "event-condition",
}
# Nodes that belong to a model element rather than being one; findings point at the element that owns them.
_DETAIL = re.compile(r"(EventDefinition|LoopCharacteristics)$|^(conditionExpression|completionCondition|loopCardinality"
                     r"|loopCondition|timeDuration|timeDate|timeCycle|condition)$")
_ENTRY = re.compile(r"(?:[#$]\{[^}]*\}|[^,])+")


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _root(tree: etree._ElementTree | etree._Element) -> etree._Element:
    return tree.getroot() if isinstance(tree, etree._ElementTree) else tree


def extension_properties(node: etree._Element) -> dict[str, str]:
    """Return name→value of camunda:/spiffworkflow: properties under the element's bpmn:extensionElements."""
    props: dict[str, str] = {}
    for ext in node.findall(_q("extensionElements")):
        for ns in (CAMUNDA_NS, SPIFF_NS):
            for prop in ext.iterfind(f"{{{ns}}}properties/{{{ns}}}property"):
                if prop.get("name"):
                    props.setdefault(prop.get("name"), prop.get("value") or (prop.text or "").strip())
    return props


def _vendor_attr(node: etree._Element, name: str) -> str | None:
    # Camunda first, then Activiti, then Flowable: the same attribute under whichever modeler wrote the file.
    return next((value for ns in _VENDORS if (value := node.get(f"{{{ns}}}{name}")) is not None), None)


def assignment(node: etree._Element) -> dict:
    """Return candidate_groups, candidate_users (lists), assignee and form_key read from camunda/activiti/flowable."""
    def entries(raw: str | None) -> list[str]:
        # Split on commas, but not inside a ${…} expression.
        return [part.strip() for part in _ENTRY.findall(raw or "") if part.strip()]
    return {
        "candidate_groups": entries(_vendor_attr(node, "candidateGroups")),
        "candidate_users": entries(_vendor_attr(node, "candidateUsers")),
        "assignee": (_vendor_attr(node, "assignee") or "").strip() or None,
        "form_key": (_vendor_attr(node, "formKey") or "").strip() or None,
    }


def iter_expressions(tree: etree._ElementTree | etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """Yield (expression node, kind, stripped text) for every condition, loop and timer expression, in document order."""
    for node in _root(tree).iter(_q("*")):
        parent = node.getparent()
        kind = _EXPRESSION_KINDS.get((local_name(parent), local_name(node))) if parent is not None else None
        if kind:
            yield node, kind, "".join(node.itertext()).strip()


def owner_id(node: etree._Element) -> str | None:
    """Return the id of the model element a node belongs to (the event for a timer expression, the flow for a condition)."""
    current: etree._Element | None = node
    while current is not None:
        if current.get("id") and not _DETAIL.search(local_name(current)):
            return current.get("id")
        current = current.getparent()
    return None


def lint_tree(tree: etree._ElementTree | etree._Element, source: str, known_form_keys: set[str] | None = None,
              known_groups: set[str] | None = None) -> list[Finding]:
    """Return every structural finding for a parsed BPMN file; never raises for well-formed XML."""
    return _Linter(_root(tree), source, known_form_keys, known_groups).run()


class _Linter:
    """One lint run: the id index, the sequence-flow graph and the findings gathered so far."""

    def __init__(self, root: etree._Element, source: str, form_keys: set[str] | None, groups: set[str] | None):
        self.root, self.source, self.form_keys, self.groups = root, source, form_keys, groups
        self.findings: list[Finding] = []
        self.ids: dict[str, etree._Element] = {}
        self.flows = list(root.iter(_q("sequenceFlow")))

    def add(self, code: str, node: etree._Element, message: str, hint: str, severity: str = "error") -> None:
        self.findings.append(Finding(code=code, message=message, file=self.source, line=node.sourceline,
                                     element_id=owner_id(node), hint=hint, severity=severity))

    def run(self) -> list[Finding]:
        if self.root.tag != _q("definitions"):
            self.add("not-bpmn", self.root, f"the root element is <{local_name(self.root)}> in namespace "
                     f"{etree.QName(self.root).namespace or '(none)'}, not BPMN 2.0 definitions",
                     f"export the model as BPMN 2.0 XML (root bpmn:definitions, namespace {BPMN_NS})")
            return self.findings
        for node in self.root.iter(_q("*")):
            node_id = node.get("id")
            if node_id and node_id in self.ids:
                self.add("duplicate-id", node, f"id '{node_id}' is used twice", "give every element a unique id")
            elif node_id:
                self.ids[node_id] = node
        self.processes()
        self.elements()
        self.vendor_extensions()
        self.user_tasks()
        self.timers_and_limits()
        self.expressions()
        self.flow_structure()
        self.reachability()
        # File order reads best for a designer walking the model top to bottom.
        return sorted(self.findings, key=lambda finding: finding.line or 0)

    def processes(self) -> None:
        processes = self.root.findall(_q("process"))
        if not processes:
            self.add("no-process", self.root, "the file defines no bpmn:process, so there is nothing to run",
                     "model the flow inside a pool (participant) or a process")
        # A collaboration may hold an outside party's pool that never runs; that is only worth a warning
        # as long as some process in the file is marked for execution.
        any_executable = any(p.get("isExecutable") == "true" for p in processes)
        for process in processes:
            if process.get("isExecutable") != "true":
                self.add("not-executable", process, f"process '{process.get('id')}' is not marked executable",
                         "tick 'Executable' on the process (isExecutable=\"true\") in the modeler",
                         "warning" if any_executable else "error")
        for tag in ("message", "signal", "error", "escalation"):
            for node in self.root.findall(_q(tag)):
                if not (node.get("name") or "").strip():
                    self.add(f"unnamed-{tag}", node, f"bpmn:{tag} '{node.get('id')}' has no name",
                             f"give the {tag} a name in the modeler; events refer to it by name")

    def elements(self) -> None:
        refused = {"transaction": "transactions", "adHocSubProcess": "ad-hoc subprocesses"}
        for node in self.root.iter(_q("*")):
            kind = local_name(node)
            if kind == "complexGateway":
                self.add("unsupported-complex-gateway", node, "complex gateways are not supported",
                         "use an inclusive or exclusive gateway with explicit conditions")
            elif kind in refused or "horeography" in kind:
                self.add("unsupported-element", node, f"{refused.get(kind, 'choreographies')} are not supported "
                         f"(bpmn:{kind})", "remodel it with plain subprocesses, tasks and gateways")
            elif kind == "compensateEventDefinition" or node.get("isForCompensation") == "true":
                self.add("unsupported-compensation", node, "compensation is not supported",
                         "model the undo step as ordinary tasks on an explicit path")
            elif kind == "linkEventDefinition":
                self.add("unsupported-link-event", node, "link events are not supported",
                         "draw the sequence flow directly instead of jumping through a link")
            elif kind == "scriptTask":
                self.add("script-task-refused", node, "script tasks are not allowed; use a gateway condition or a "
                         "service", "replace it with a serviceTask bound to a OneWindow service, or a condition")
            elif kind == "dataStoreReference":
                store = self.ids.get(node.get("dataStoreRef") or "")
                name = store.get("name") if store is not None else None
                if name not in DATA_STORE_IMPLEMENTATIONS:
                    self.add("data-store-unsupported", node, f"data store '{name or node.get('dataStoreRef')}' has "
                             "no implementation in OneWindow; it is drawn but holds nothing",
                             "keep case data in form fields, or remove the data store", "warning")
            elif kind in ("sendTask", "manualTask"):
                what = ("a send task only throws a message inside the engine; nothing leaves OneWindow"
                        if kind == "sendTask" else "a manual task has no form and completes when someone confirms it")
                self.add(f"{'send' if kind == 'sendTask' else 'manual'}-task", node, what,
                         "use a userTask with a form, or a serviceTask for notifications", "warning")
            elif kind == "receiveTask" and not self.is_a(node.get("messageRef"), "message"):
                self.add("receive-task-without-message", node, "the receive task names no bpmn:message, so it "
                         "would wait forever", "pick the message it waits for (messageRef)")
            elif kind == "businessRuleTask" and not self.decision_ref(node):
                self.add("business-rule-without-decision", node, "the business rule task names no decision",
                         "set camunda:decisionRef (or spiffworkflow:calledDecisionId) to a deployed DMN decision")
            elif kind == "callActivity" and not (node.get("calledElement") or "").strip():
                self.add("call-activity-without-process", node, "the call activity names no process to call",
                         "set calledElement to the process id of the called process (e.g. the higher authority's "
                         "published review process)")

    def is_a(self, ref: str | None, kind: str) -> bool:
        target = self.ids.get(ref or "")
        return target is not None and local_name(target) == kind

    @staticmethod
    def decision_ref(node: etree._Element) -> str:
        spiff = node.findtext(f"{_q('extensionElements')}/{{{SPIFF_NS}}}calledDecisionId") or ""
        return (_vendor_attr(node, "decisionRef") or spiff).strip()

    def vendor_extensions(self) -> None:
        zeebe_owners: set[str | None] = set()
        for node in self.root.iter():
            if not isinstance(node.tag, str):
                continue
            namespace, name = etree.QName(node).namespace, local_name(node)
            zeebe = namespace == ZEEBE_NS or any(attr.startswith(f"{{{ZEEBE_NS}}}") for attr in node.attrib)
            if zeebe and owner_id(node) not in zeebe_owners:
                # One finding per model element: a Camunda 8 task carries several zeebe: children.
                zeebe_owners.add(owner_id(node))
                self.add("unsupported-zeebe", node, f"Camunda 8 (zeebe:{name if namespace == ZEEBE_NS else ''}) "
                         "extensions are not supported", "model it for Camunda 7 / SpiffWorkflow attributes instead")
            elif (namespace == SPIFF_NS and name in ("preScript", "postScript")) or \
                    (namespace in _VENDORS and name == "script"):
                self.add("script-refused", node, f"{name} scripts are not allowed on tasks",
                         "move the logic into a gateway condition or a OneWindow service")

    def user_tasks(self) -> None:
        in_lane = {(ref.text or "").strip() for ref in self.root.iter(_q("flowNodeRef"))}
        for node in self.root.iter(_q("userTask"), _q("startEvent")):
            who = assignment(node)
            key = who["form_key"]
            if key and self.form_keys is not None and key not in self.form_keys:
                self.add("unknown-form-key", node, f"form key '{key}' names no known form",
                         f"add forms/{key}.json or correct the form key")
            if local_name(node) != "userTask":
                continue
            people = who["candidate_groups"] + who["candidate_users"] + ([who["assignee"]] if who["assignee"] else [])
            dynamic = [entry for entry in people if "${" in entry or "#{" in entry]
            if dynamic:
                self.add("dynamic-assignment", node, f"assignment by expression ({', '.join(dynamic)}) is not "
                         "evaluated by OneWindow", "name the candidate groups literally, e.g. 'reviewer,approver'",
                         "warning")
            for group in who["candidate_groups"]:
                if self.groups is not None and group not in dynamic and group not in self.groups:
                    self.add("unknown-candidate-group", node, f"candidate group '{group}' does not exist",
                             "create the group in OneWindow or fix the spelling")
            ancestors = [node.get("id"), *(a.get("id") for a in node.iterancestors())]
            if not people and not any(a in in_lane for a in ancestors if a):
                self.add("unassigned-user-task", node, "nobody can pick up this user task: no candidate groups, "
                         "no assignee and no lane", "set candidate groups, or place the task in a lane")

    def timers_and_limits(self) -> None:
        for definition in self.root.iter(_q("timerEventDefinition")):
            event = definition.getparent()
            rule = (extension_properties(event).get("rule") or extension_properties(definition).get("rule") or "")
            if rule.strip() not in TIMER_RULES:
                told = f"has an unknown rule '{rule}'" if rule else "has no 'rule' property"
                self.add("timer-without-rule", event, f"the timer {told}; OneWindow must know what the deadline "
                         "means", f"add an extension property rule = one of {', '.join(sorted(TIMER_RULES))}")
        for extension in self.root.iter(_q("extensionElements")):
            node = extension.getparent()
            for name in ("limit", "statutory_limit"):
                limit = extension_properties(node).get(name)
                if limit is not None and not LIMIT_PATTERN.match(limit.strip()):
                    self.add("bad-limit", node, f"{name} '{limit}' is not a duration OneWindow understands",
                             "write working days as '3wd', calendar days as 'P5D' or hours as 'PT4H'")

    def expressions(self) -> None:
        for node, kind, text in iter_expressions(self.root):
            if "feel" in (node.get("language") or "").lower() or text.startswith("="):
                self.add("unsupported-feel", node, f"the {kind} is a FEEL expression (Camunda 8), which is not "
                         "supported", "write the condition as a Python expression without the leading '='")

    def flow_structure(self) -> None:
        outgoing: dict[str, list[etree._Element]] = defaultdict(list)
        for flow in self.flows:
            for end in ("sourceRef", "targetRef"):
                ref = flow.get(end) or ""
                target = self.ids.get(ref)
                if target is None or target.getparent() is not flow.getparent():
                    where = "does not exist" if target is None else "is not in the same process or subprocess"
                    self.add("dangling-flow", flow, f"{end} '{ref}' {where}",
                             "reconnect both ends of the sequence flow in the modeler")
            outgoing[flow.get("sourceRef") or ""].append(flow)
        for gateway in self.root.iter(_q("exclusiveGateway")):
            flows = outgoing.get(gateway.get("id") or "", [])
            for flow in flows if len(flows) >= 2 else []:
                condition = (flow.findtext(_q("conditionExpression")) or "").strip()
                if not condition and flow.get("id") != gateway.get("default"):
                    self.add("missing-condition", flow, "a flow leaving an exclusive gateway has no condition and "
                             "is not the default", "add a condition, or mark the flow as the gateway's default",
                             "warning")

    def reachability(self) -> None:
        successors: dict[str, list[str]] = defaultdict(list)
        targeted: set[str] = set()
        for flow in self.flows:
            successors[flow.get("sourceRef") or ""].append(flow.get("targetRef") or "")
            targeted.add(flow.get("targetRef") or "")
        boundaries: dict[str, list[str]] = defaultdict(list)
        for event in self.root.iter(_q("boundaryEvent")):
            boundaries[event.get("attachedToRef") or ""].append(event.get("id") or "")
        seen: set[str] = set()
        stack: list[str] = []

        def enter(container: etree._Element) -> None:
            # Inside a container, start events start; without any, every node without incoming flow does.
            nodes = [n for n in container if local_name(n) in _FLOW_NODES and n.get("id")]
            starts = [n for n in nodes if local_name(n) == "startEvent"] or [
                n for n in nodes if n.get("id") not in targeted and local_name(n) != "boundaryEvent"]
            stack.extend(n.get("id") for n in starts)
            stack.extend(n.get("id") for n in nodes if n.get("triggeredByEvent") == "true")

        for process in self.root.findall(_q("process")):
            enter(process)
        while stack:
            node_id = stack.pop()
            if node_id in seen or node_id not in self.ids:
                continue
            seen.add(node_id)
            stack.extend(successors.get(node_id, []) + boundaries.get(node_id, []))
            if local_name(self.ids[node_id]) in _CONTAINERS:
                enter(self.ids[node_id])
        for node_id, node in self.ids.items():
            parent = node.getparent()
            reached_parent = parent is not None and (local_name(parent) == "process" or parent.get("id") in seen)
            kind = local_name(node)
            if (reached_parent and kind in _FLOW_NODES and node_id not in seen
                    and kind not in ("startEvent", "boundaryEvent")):
                self.add("unreachable", node, f"{kind} '{node.get('name') or node_id}' cannot be reached from a "
                         "start event", "connect it with a sequence flow, or delete it", "warning")
