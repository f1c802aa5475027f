"""Call activities resolved by process id against published called processes (上报 and other calls).

The higher authority's process is its own catalogue entry (`processes/<code>.process.toml`), published by the
higher department. A caller never ships it: at validation and deployment each `calledElement` is looked up among
the called processes deployed (or, when validating, among those given in the same run), a report-up leg must
reach a department exactly one organisation level up, and the callee's tasks are stamped with its publishing
department so they land in that department's inboxes. The caller's published version records which callee
versions it embeds, so a running case keeps the callee it started with.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from engine.bpmn.lint import extension_properties
from engine.bpmn.xml import BPMN_NS, parse_xml
from engine.errors import Finding, InvalidInput
from engine.store.catalogue_models import PROCESS, CatalogueEntry
from engine.store.models import Department

# Top to bottom; a league (盟) ranks with a city. Report-up goes exactly one rank up.
LEVEL_RANK = {"province": 0, "city": 1, "league": 1, "county": 2, "town": 3, "village": 4}
# Deep enough for village → town → county → city → province; more means a cycle or a runaway chain.
MAX_CALL_DEPTH = 8


@dataclass(frozen=True)
class Dept:
    """A department as the level rule sees it."""

    level: str
    parent: str | None


@dataclass(frozen=True)
class Callee:
    """A called process as a caller will run it: its publisher, its BPMN and, once deployed, its version."""

    code: str
    process_id: str
    department: str
    bpmn_name: str
    bpmn: bytes
    sha256: str
    version: int | None = None
    source: str = ""

    def pin(self) -> dict[str, Any]:
        """What a caller's published version records about the callee it embeds."""
        return {"process_id": self.process_id, "code": self.code, "version": self.version,
                "department": self.department, "sha256": self.sha256}


def organisation(session: Session | None) -> dict[str, Dept] | None:
    """Every department by code, or None when there is no organisation to check against."""
    # As with candidate groups: an uninitialised or empty database cannot say a department is unknown.
    if session is None or not inspect(session.connection()).has_table(Department.__tablename__):
        return None
    rows = session.execute(select(Department.id, Department.code, Department.level, Department.parent_id)).all()
    codes = {row.id: row.code for row in rows}
    return {row.code: Dept(row.level, codes.get(row.parent_id)) for row in rows} or None


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def call_activities(tree: etree._ElementTree | etree._Element) -> Iterator[tuple[etree._Element, str, bool]]:
    """Yield (call activity, called process id, whether it is a report-up leg) in document order."""
    for node in tree.iter(_q("callActivity")):
        called = (node.get("calledElement") or "").strip()
        yield node, called, extension_properties(node).get("leg") == "report-up"


def deployed_callee(session: Session | None, process_id: str) -> Callee | None:
    """The newest deployed called process with this process id, if any."""
    if session is None or not inspect(session.connection()).has_table(CatalogueEntry.__tablename__):
        return None
    row = session.scalar(select(CatalogueEntry).where(CatalogueEntry.kind == PROCESS,
                                                      CatalogueEntry.process_id == process_id)
                         .order_by(CatalogueEntry.version.desc()).limit(1))
    if row is None:
        return None
    return Callee(row.code, process_id, row.department or "", row.manifest.get("bpmn") or f"{row.code}.bpmn",
                  row.bpmn_xml.encode("utf-8"), row.sha256, row.version, f"{row.code} v{row.version}")


def level_problem(caller: str, callee: str, org: Mapping[str, Dept] | None) -> str | None:
    """Why `callee`'s department cannot decide what `caller`'s department reports up, or None when it can."""
    if org is None:
        return None  # no organisation loaded: levels cannot be checked
    low, high = org.get(caller), org.get(callee)
    if low is None or high is None:
        return f"department '{caller if low is None else callee}' is not in the organisation"
    low_rank, high_rank = LEVEL_RANK.get(low.level), LEVEL_RANK.get(high.level)
    if low_rank is None or high_rank is None:
        return f"organisation level '{low.level if low_rank is None else high.level}' is unknown"
    if high_rank != low_rank - 1:
        return (f"'{callee}' ({high.level}) is not exactly one organisation level above '{caller}' ({low.level})")
    return None


class _Resolver:
    """One resolution run: the callees found so far and the findings about the call activities."""

    def __init__(self, session: Session | None, candidates: Mapping[str, Callee], org: Mapping[str, Dept] | None):
        self.session, self.candidates, self.org = session, candidates, org
        self.callees: dict[str, Callee] = {}
        self.findings: list[Finding] = []

    def lookup(self, process_id: str) -> Callee | None:
        # A process given in the same run will be deployed with it, so it wins over an older deployed version.
        return self.candidates.get(process_id) or deployed_callee(self.session, process_id)

    def walk(self, tree: etree._ElementTree, source: str, department: str, chain: tuple[str, ...] = ()) -> None:
        local = {p.get("id") for p in tree.iter(_q("process"))}
        for node, called, report_up in call_activities(tree):
            owner = next((p.get("id") for p in node.iterancestors(_q("process"))), None)
            if not called:
                continue  # the structural lint reports a call activity that names no process
            if called == owner or called in chain:
                self.add(node, source, "recursive-call", f"call activity '{node.get('id')}' calls process "
                         f"'{called}', which is already running it (a call cycle)",
                         "call another process, or loop back with a sequence flow")
            elif called in local:
                if report_up:
                    self.add(node, source, "report-up-local", f"report-up leg '{node.get('id')}' calls process "
                             f"'{called}' defined in this same file, so the lower authority would decide itself",
                             "call the higher authority's own published process (processes/<code>.process.toml)")
            else:
                self.call(node, source, department, called, report_up, (*chain, owner or ""))

    def call(self, node: etree._Element, source: str, department: str, called: str, report_up: bool,
             chain: tuple[str, ...]) -> None:
        callee = self.lookup(called)
        if callee is None:
            self.add(node, source, "called-process-not-deployed", f"call activity '{node.get('id')}' calls "
                     f"process '{called}', which no deployed called process publishes",
                     f"deploy the higher authority's processes/<code>.process.toml (process_id = \"{called}\") "
                     "first, or validate it together with this file")
            return
        problem = level_problem(department, callee.department, self.org) if report_up else None
        if problem:
            self.add(node, source, "report-up-level", f"report-up leg '{node.get('id')}' calls '{called}' "
                     f"published by {problem}",
                     "report up to the process of the department one level above (village → town → county "
                     "→ city → province)")
        if callee.process_id in self.callees:
            return
        if len(chain) >= MAX_CALL_DEPTH:
            self.add(node, source, "call-chain-too-deep", f"calls nest deeper than {MAX_CALL_DEPTH} processes",
                     "check for a process that calls itself through others")
            return
        self.callees[callee.process_id] = callee
        try:
            tree = parse_xml(callee.bpmn, callee.bpmn_name)
        except InvalidInput:
            self.add(node, source, "called-process-invalid", f"called process '{callee.process_id}' "
                     f"({callee.source or callee.code}) is not readable BPMN", f"fix and validate {callee.source}")
            return
        self.walk(tree, callee.bpmn_name, callee.department, chain)

    def add(self, node: etree._Element, source: str, code: str, message: str, hint: str) -> None:
        self.findings.append(Finding(code, message, source, node.sourceline, node.get("id"), hint))


def resolve_callees(session: Session | None, tree: etree._ElementTree, source: str, department: str,
                    candidates: Mapping[str, Callee] | None = None,
                    org: Mapping[str, Dept] | None = None) -> tuple[list[Callee], list[Finding]]:
    """Every process `tree` calls, directly or through its callees, with findings on unresolved or misdirected calls."""
    resolver = _Resolver(session, candidates or {}, org)
    resolver.walk(tree, source, department)
    return list(resolver.callees.values()), resolver.findings


def foreign_departments(tree: etree._ElementTree, source: str, department: str) -> list[Finding]:
    """Tasks of a called process that name another department than the one publishing it."""
    found = []
    for node in tree.iter(_q("*")):
        named = extension_properties(node).get("department") if node.get("id") else None
        if named and named != department:
            found.append(Finding("called-process-department", f"'{node.get('id')}' names department '{named}', but "
                                 f"the process is published by '{department}'", source, node.sourceline,
                                 node.get("id"), "drop the department property: a called process's tasks belong to "
                                 "its publishing department (department in its .process.toml)"))
    return found


def stamp_departments(subprocess_specs: Mapping[str, Any], callees: list[Callee]) -> None:
    """Give each callee's user tasks its publishing department, unless a task routes itself (department_from)."""
    for callee in callees:
        spec = subprocess_specs.get(callee.process_id)
        for task_spec in (spec.task_specs.values() if spec is not None else ()):
            extensions = getattr(task_spec, "extensions", None)
            if not getattr(task_spec, "manual", False) or not isinstance(extensions, dict):
                continue
            properties = extensions.setdefault("properties", {})
            if not properties.get("department_from"):
                properties["department"] = callee.department
