"""The OneWindow BPMN parser: SpiffBpmnParser plus Camunda/Activiti/Flowable assignment and properties."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.lint import assignment, extension_properties
from engine.bpmn.xml import parse_xml
from engine.errors import Finding, InvalidInput


def _with_onewindow_extensions(parser_class: type) -> type:
    """Derive a task parser whose extensions also carry Camunda-style properties and assignment."""

    def parse_extensions(self, node=None):
        node = self.node if node is None else node
        ext = parser_class.parse_extensions(self, node)
        # Designers write time rules in camunda:properties or spiffworkflow:properties; one dict serves both.
        props = {**ext.get("properties", {}), **extension_properties(node)}
        if props:
            ext["properties"] = props
        if etree.QName(node.tag).localname == "userTask":
            ext["assignment"] = assignment(node)
        return ext

    return type(f"OneWindow{parser_class.__name__}", (parser_class,), {"parse_extensions": parse_extensions})


class OneWindowParser(SpiffBpmnParser):
    """SpiffBpmnParser whose task specs also know candidate groups, assignee, form key and properties."""

    OVERRIDE_PARSER_CLASSES = {
        tag: (_with_onewindow_extensions(parser), spec)
        for tag, (parser, spec) in SpiffBpmnParser.OVERRIDE_PARSER_CLASSES.items()
    }


@dataclass
class ParsedProcess:
    """A runnable process: the top-level spec and the specs of everything it calls."""

    process_id: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]


def build_specs(documents: list[tuple[str, bytes]], process_id: str) -> ParsedProcess:
    """Parse BPMN documents safely and build the spec of `process_id`; refuse with findings on any failure."""
    parser = OneWindowParser()
    for source, data in documents:
        tree = parse_xml(data, source)
        try:
            parser.add_bpmn_xml(tree, filename=source)
        except ValidationException as exc:
            raise _invalid(exc, source) from None
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        raise _invalid(exc, exc.file_name or documents[0][0]) from None
    except Exception as exc:  # SpiffWorkflow raises TypeError/KeyError/AttributeError on some bad models
        finding = Finding(code="parse-failed", message=f"{type(exc).__name__}: {exc}", file=documents[0][0],
                          hint="run `onewindow validate` for the model's findings")
        raise InvalidInput(str(finding), findings=[finding]) from None
    return ParsedProcess(process_id, spec, subprocess_specs)


def _invalid(exc: ValidationException, source: str) -> InvalidInput:
    line = exc.line_number if isinstance(exc.line_number, int) else None
    message = str(exc).split("\n")[0]
    finding = Finding(code="spiff-validation", message=message, file=source, line=line,
                      element_id=exc.id or None)
    return InvalidInput(str(finding), findings=[finding])


def user_task_meta(task_spec: Any) -> dict[str, Any]:
    """Return the assignment, form key, properties and lane of a user task spec."""
    ext = getattr(task_spec, "extensions", {}) or {}
    return {
        "assignment": ext.get("assignment", {}),
        "properties": ext.get("properties", {}),
        "lane": getattr(task_spec, "lane", None),
    }
