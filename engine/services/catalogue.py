"""Designer use cases: validate item files and publish them as new versions."""
from __future__ import annotations

from pathlib import Path

from engine.bootstrap import OneWindow
from engine.bpmn.expression_lint import expression_findings
from engine.bpmn.lint import lint_tree
from engine.bpmn.xml import parse_xml
from engine.catalog import catalogue_paths, deploy, read_item, validate_item
from engine.errors import Finding, InvalidInput, NotFound
from engine.store.uow import reading, writing


def validate_paths(ow: OneWindow, paths: list[Path]) -> dict[str, list[Finding]]:
    """Findings per file; a BPMN file without a manifest is linted on its own. Never raises for bad files."""
    results: dict[str, list[Finding]] = {}
    with reading(ow.db) as session:
        for path in paths:
            path = Path(path)
            try:
                results[str(path)] = validate_item(session, read_item(path), ow.forms)
            except NotFound:
                results[str(path)] = _lint_bare(ow, path)
            except InvalidInput as exc:
                results[str(path)] = exc.findings or [Finding("item-invalid", str(exc), str(path))]
    return results


def _lint_bare(ow: OneWindow, path: Path) -> list[Finding]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [Finding("unreadable", f"cannot read file: {exc.strerror}", str(path))]
    try:
        tree = parse_xml(data, str(path))
        return lint_tree(tree, str(path), ow.forms.keys(), None) + expression_findings(tree, str(path))
    except InvalidInput as exc:
        return exc.findings


def deploy_paths(ow: OneWindow, paths: list[Path], username: str) -> list[dict]:
    """Publish each item; all or nothing: one invalid item refuses the whole batch."""
    with writing(ow.db) as session:
        published = []
        for path in paths:
            version, is_new = deploy(session, read_item(Path(path)), ow.forms, username, ow.clock.now())
            published.append({"item": version.item_code, "version": version.version, "new": is_new})
        return published


def deploy_catalogue(ow: OneWindow, username: str) -> list[dict]:
    """Publish every item under processes/."""
    return deploy_paths(ow, catalogue_paths(), username)
