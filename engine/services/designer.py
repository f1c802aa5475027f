"""Designer use cases on the web: items and versions, checking an uploaded BPMN file, deploying it, diagrams."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.bootstrap import OneWindow
from engine.bpmn.render import render_svg
from engine.bpmn.xml import parse_xml
from engine.catalog import ItemFiles, deploy, latest_version, stored_item, validate_item
from engine.errors import InvalidInput, NotFound
from engine.services.actors import resolve_actor
from engine.store.models import ProcessVersion
from engine.store.uow import reading, writing

DESIGNERS = ("designer", "admin")
MAX_BPMN_BYTES = 2 * 1024 * 1024


def item_versions(ow: OneWindow, username: str) -> dict[str, list[dict[str, Any]]]:
    """Every item with all its published versions, newest first."""
    with reading(ow.db) as session:
        resolve_actor(session, username).require_group(*DESIGNERS)
        rows = session.execute(select(ProcessVersion.item_code, ProcessVersion.version, ProcessVersion.manifest,
                                      ProcessVersion.sha256, ProcessVersion.deployed_at, ProcessVersion.deployed_by)
                               .order_by(ProcessVersion.item_code, ProcessVersion.version.desc()))
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r.item_code, []).append({
                "version": r.version, "name": r.manifest["name"], "name_en": r.manifest["name_en"],
                "sha256": r.sha256[:12], "deployed_at": r.deployed_at.isoformat(), "deployed_by": r.deployed_by})
        return out


def version_diagram(ow: OneWindow, username: str, item_code: str, version: int) -> str:
    """The diagram of one published version as SVG."""
    with reading(ow.db) as session:
        resolve_actor(session, username).require_group(*DESIGNERS)
        xml = session.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.item_code == item_code,
                                                                   ProcessVersion.version == version))
        if xml is None:
            raise NotFound(f"no version {version} of item '{item_code}'")
    return render_svg(parse_xml(xml.encode("utf-8"), f"{item_code}.bpmn"))


def _uploaded_item(session, item_code: str, filename: str, data: bytes) -> ItemFiles:
    """The item's current manifest with the uploaded BPMN in place of its published one."""
    if not filename.lower().endswith(".bpmn") or "/" in filename or "\\" in filename:
        raise InvalidInput("upload a .bpmn file", fields={"file": "a .bpmn file"})
    if len(data) > MAX_BPMN_BYTES:
        raise InvalidInput("the BPMN file is larger than 2 MB", fields={"file": "too large"})
    item = stored_item(latest_version(session, item_code))
    # Called processes are not uploaded with it: its call activities resolve against the deployed ones.
    item.manifest["bpmn"], item.bpmn, item.bpmn_name = filename, data, filename
    return item


def check_bpmn(ow: OneWindow, username: str, item_code: str, filename: str, data: bytes) -> dict[str, Any]:
    """Validate an uploaded BPMN for an item: findings, and the diagram with the offending elements marked."""
    with reading(ow.db) as session:
        resolve_actor(session, username).require_group(*DESIGNERS)
        item = _uploaded_item(session, item_code, filename, data)
        findings = validate_item(session, item, ow.forms)
    marks = {f.element_id: "overdue" for f in findings if f.element_id and f.severity == "error"}
    try:
        svg = render_svg(parse_xml(data, filename), marks)
    except InvalidInput:
        svg = None
    return {"findings": [f.as_dict() for f in findings], "svg": svg,
            "errors": sum(1 for f in findings if f.severity == "error")}


def deploy_bpmn(ow: OneWindow, username: str, item_code: str, filename: str, data: bytes) -> dict[str, Any]:
    """Publish an uploaded BPMN as the item's next version (refused with findings when it has errors)."""
    with writing(ow.db) as session:
        resolve_actor(session, username).require_group(*DESIGNERS)
        version, is_new = deploy(session, _uploaded_item(session, item_code, filename, data), ow.forms,
                                 username, ow.clock.now())
        return {"item": version.item_code, "version": version.version, "new": is_new}
