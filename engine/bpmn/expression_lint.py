"""Expression findings: every condition, loop and timer expression must be in the safe language or the JUEL subset."""
from __future__ import annotations

from lxml import etree

from engine.bpmn.lint import iter_expressions, owner_id
from engine.errors import Finding
from engine.expressions import check, is_juel

# Kinds a process cannot run without; an empty timer expression is the timer lint's business.
_MUST_HAVE_TEXT = {"completion-condition", "loop-cardinality", "loop-condition", "event-condition"}


def expression_findings(tree: etree._ElementTree | etree._Element, source: str) -> list[Finding]:
    """Return a finding for each expression the safe engine would refuse, naming its element and text."""
    findings: list[Finding] = []
    for node, kind, text in iter_expressions(tree):
        if "feel" in (node.get("language") or "").lower() or text.startswith("="):
            continue  # FEEL is reported by the structural lint (unsupported-feel)
        if not text:
            if kind in _MUST_HAVE_TEXT:
                findings.append(_finding("empty-expression", node, source, f"the {kind} is empty",
                                         "write the expression, or remove the element"))
            continue
        problems = check(text)
        if not problems:
            continue
        element = owner_id(node)
        shown = text if len(text) <= 120 else text[:120] + "…"
        if is_juel(text):
            findings.append(_finding(
                "juel-beyond-subset", node, source,
                f"the {kind} of '{element}' uses JUEL beyond the supported subset: {shown} ({'; '.join(problems)})",
                "use names, literals, comparisons, and/or/not, arithmetic, the multi-instance counters and "
                "`empty`; no method calls, beans or execution.*"))
        else:
            findings.append(_finding(
                "unsafe-expression", node, source,
                f"the {kind} of '{element}' is not accepted by the safe expression engine: {shown} "
                f"({'; '.join(problems)})",
                "use names, literals, comparisons, boolean logic, subscripts and registered functions only"))
    return findings


def _finding(code: str, node: etree._Element, source: str, message: str, hint: str) -> Finding:
    return Finding(code=code, message=message, file=source, line=node.sourceline, element_id=owner_id(node),
                   hint=hint)
