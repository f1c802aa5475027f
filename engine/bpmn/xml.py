"""Safe XML loading: no DTDs, no entities, no network, bounded size; errors name file and line."""
from __future__ import annotations

import re

from lxml import etree

from engine.errors import Finding, InvalidInput

MAX_BPMN_BYTES = 5 * 1024 * 1024

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ACTIVITI_NS = "http://activiti.org/bpmn"
FLOWABLE_NS = "http://flowable.org/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not thread-safe, and these settings shut every door
    # (DTD loading, entity expansion, network fetches, huge-tree mode) that XXE and billion-laughs use.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


# A DTD can only stand in the prolog, before the root element's start tag; text after it may mention one freely.
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_DTD_MARK = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(data: bytes | str, source: str = "<input>", max_bytes: int = MAX_BPMN_BYTES) -> etree._ElementTree:
    """Parse untrusted XML; raise InvalidInput with a finding for oversized, malformed or DTD-bearing input."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise _refuse(source, "xml-too-large", f"file is {len(raw)} bytes, the limit is {max_bytes}",
                      hint="split the model or remove embedded content")
    # A DTD often makes the hardened parser fail first (undefined entities), which would read as "malformed";
    # the designer should hear that the DTD itself is refused.
    root_start = _ROOT_START.search(raw)
    dtd = _DTD_MARK.search(raw, 0, root_start.start() if root_start else len(raw))
    if dtd:
        raise _refuse(source, "xml-dtd", "a DOCTYPE/DTD is not allowed in BPMN files (entity expansion, external references)",
                      line=raw[:dtd.start()].count(b"\n") + 1, hint="remove the <!DOCTYPE …> declaration")
    try:
        tree = etree.ElementTree(etree.fromstring(raw, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise _refuse(source, "xml-malformed", f"not well-formed XML: {exc.msg}", line=line,
                      hint="open the file in Camunda Modeler and save it again") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None or tree.docinfo.externalDTD is not None:
        raise _refuse(source, "xml-dtd", "a DOCTYPE/DTD is not allowed in BPMN files (entity expansion, external references)",
                      line=1, hint="remove the <!DOCTYPE …> declaration")
    prolog = list(tree.getroot().itersiblings(preceding=True))
    for node in [*prolog, *tree.iter()]:
        if isinstance(node, etree._Entity) or isinstance(node, etree._ProcessingInstruction) and node.target == "xml-stylesheet":
            raise _refuse(source, "xml-entity", "entity references and stylesheet instructions are not allowed",
                          line=node.sourceline)
    return tree


def _refuse(source: str, code: str, message: str, line: int | None = None, hint: str = "") -> InvalidInput:
    finding = Finding(code=code, message=message, file=source, line=line, hint=hint)
    return InvalidInput(str(finding), findings=[finding])


def element_id(node: etree._Element) -> str | None:
    """Return the BPMN id of an element, if it has one."""
    return node.get("id")


def local_name(node: etree._Element) -> str:
    """Return the tag without its namespace (`userTask` for `{…MODEL}userTask`)."""
    tag = node.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""
