"""Designer use cases on the web: items, called processes and bundles with their versions; checking an uploaded
BPMN file or catalogue manifest, deploying it; diagrams."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.bpmn.render import render_svg
from engine.bpmn.xml import parse_xml
from engine.catalog import (
    PINNED_CALLS,
    ItemFiles,
    deploy,
    latest_version,
    manifest_kind,
    plain_name,
    stored_item,
    validate_item,
)
from engine.errors import Finding, InvalidInput, NotFound
from engine.services.actors import resolve_actor
from engine.services.catalogue import deploy_paths, validate_paths
from engine.store.catalogue_models import BUNDLE, PROCESS, CatalogueEntry
from engine.store.models import Department, ProcessVersion
from engine.store.uow import reading, writing

DESIGNERS = ("designer", "admin")
MAX_BPMN_BYTES = 2 * 1024 * 1024
# An uploaded file: the name the browser gave it and its content.
Upload = tuple[str, bytes]


def _require_designer(session: Session, username: str) -> None:
    resolve_actor(session, username).require_group(*DESIGNERS)


def _item_rows(session: Session) -> list[Any]:
    """Every published item version without its large columns, by item, newest version first."""
    return list(session.execute(select(
        ProcessVersion.item_code, ProcessVersion.version, ProcessVersion.manifest, ProcessVersion.sha256,
        ProcessVersion.deployed_at, ProcessVersion.deployed_by)
        .order_by(ProcessVersion.item_code, ProcessVersion.version.desc())))


def _published(row: Any) -> dict[str, Any]:
    """What every version listing shows of a published version, item or catalogue entry."""
    return {"version": row.version, "sha256": row.sha256[:12], "deployed_at": row.deployed_at.isoformat(),
            "deployed_by": row.deployed_by}


def _pin_views(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"code": pin["code"], "version": pin["version"]} for pin in manifest.get(PINNED_CALLS, [])]


def item_versions(ow: OneWindow, username: str) -> dict[str, list[dict[str, Any]]]:
    """Every item with all its published versions, newest first, each with the called process versions it embeds."""
    with reading(ow.db) as session:
        _require_designer(session, username)
        out: dict[str, list[dict[str, Any]]] = {}
        for r in _item_rows(session):
            out.setdefault(r.item_code, []).append({
                **_published(r), "name": r.manifest["name"], "name_en": r.manifest["name_en"],
                "calls": _pin_views(r.manifest)})
        return out


@dataclass
class _Surroundings:
    """What a catalogue entry's view names besides the entry: departments, and the items that pin or bundle it."""

    departments: dict[str, dict[str, str]]
    items: dict[str, dict[str, str]]
    pins: dict[str, list[dict[str, Any]]]


def _surroundings(session: Session) -> _Surroundings:
    departments = {r.code: {"code": r.code, "name": r.name, "name_en": r.name_en, "level": r.level}
                   for r in session.execute(select(Department.code, Department.name, Department.name_en,
                                                   Department.level))}
    items: dict[str, dict[str, str]] = {}
    pins: dict[str, list[dict[str, Any]]] = {}
    for r in _item_rows(session):
        # Rows come newest first, so the first row of an item is the version new cases run.
        current = r.item_code not in items
        items.setdefault(r.item_code, {"code": r.item_code, "name": r.manifest["name"],
                                       "name_en": r.manifest["name_en"]})
        for pin in _pin_views(r.manifest):
            pins.setdefault(pin["code"], []).append({**items[r.item_code], "item_version": r.version,
                                                     "version": pin["version"], "current": current})
    return _Surroundings(departments, items, pins)


def _version_view(row: CatalogueEntry, around: _Surroundings) -> dict[str, Any]:
    """One published version of a called process (the item versions embedding it) or a bundle (its members)."""
    m = row.manifest
    view = {**_published(row), "legal_basis": m.get("legal_basis", [])}
    if row.kind == PROCESS:
        view["pinned_by"] = [p for p in around.pins.get(row.code, []) if p["version"] == row.version]
    else:
        view.update(application_form=m.get("application_form"), promised_limit=m.get("promised_limit"),
                    members=[{"code": e["item"], **around.items.get(e["item"], {}), "fields": e["fields"]}
                             for e in m.get("items", [])])
    return view


def _entry_view(versions: list[CatalogueEntry], around: _Surroundings) -> dict[str, Any]:
    """A catalogue entry at its newest version; for a called process, the current item versions pinning any of its
    versions (an item not yet republished still pins an older one)."""
    newest = versions[0]
    view = {**_version_view(newest, around), "kind": newest.kind, "code": newest.code,
            "name": newest.manifest.get("name", newest.code), "name_en": newest.manifest.get("name_en", newest.code),
            "process_id": newest.process_id, "department": around.departments.get(newest.department or ""),
            "department_code": newest.department, "versions": len(versions)}
    if newest.kind == PROCESS:
        view["pinned_by"] = [p for p in around.pins.get(newest.code, []) if p["current"]]
    return view


def catalogue_entries(ow: OneWindow, username: str) -> list[dict[str, Any]]:
    """Every called process, then every bundle, at its newest version: publisher, versions, and the items involved."""
    with reading(ow.db) as session:
        _require_designer(session, username)
        grouped: dict[tuple[str, str], list[CatalogueEntry]] = {}
        for row in session.scalars(select(CatalogueEntry).order_by(CatalogueEntry.code,
                                                                   CatalogueEntry.version.desc())):
            grouped.setdefault((row.kind, row.code), []).append(row)
        around = _surroundings(session)
        ordered = sorted(grouped.items(), key=lambda kv: (kv[0][0] != PROCESS, kv[0][1]))
        return [_entry_view(versions, around) for _, versions in ordered]


def catalogue_entry(ow: OneWindow, username: str, kind: str, code: str, version: int | None = None) -> dict[str, Any]:
    """One called process or bundle with its version history, and one version (the newest unless named) in full:
    a called process's BPMN as stored and its diagram, a bundle's members and the fields each takes."""
    with reading(ow.db) as session:
        _require_designer(session, username)
        versions = list(session.scalars(select(CatalogueEntry).where(CatalogueEntry.kind == kind,
                                                                     CatalogueEntry.code == code)
                                        .order_by(CatalogueEntry.version.desc())))
        if not versions:
            raise NotFound(f"no {kind} '{code}' in the catalogue")
        wanted = versions[0].version if version is None else version
        chosen = next((v for v in versions if v.version == wanted), None)
        if chosen is None:
            raise NotFound(f"no version {version} of {kind} '{code}'")
        around = _surroundings(session)
        view = {**_entry_view(versions, around), "history": [_version_view(v, around) for v in versions],
                "shown": _version_view(chosen, around)}
        xml = chosen.bpmn_xml if kind == PROCESS else None
    if xml is not None:
        view["shown"].update(bpmn_xml=xml, svg=_diagram(xml.encode("utf-8"), f"{code}.bpmn"))
    return view


def version_diagram(ow: OneWindow, username: str, item_code: str, version: int) -> str:
    """The diagram of one published version as SVG."""
    with reading(ow.db) as session:
        _require_designer(session, username)
        xml = session.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.item_code == item_code,
                                                                   ProcessVersion.version == version))
        if xml is None:
            raise NotFound(f"no version {version} of item '{item_code}'")
    return render_svg(parse_xml(xml.encode("utf-8"), f"{item_code}.bpmn"))


def _diagram(data: bytes, filename: str, marks: dict[str, str] | None = None) -> str | None:
    """The SVG of a BPMN document, or None when it cannot be drawn (its findings say why)."""
    try:
        return render_svg(parse_xml(data, filename), marks)
    except InvalidInput:
        return None


def _checked(findings: list[Finding], bpmn: Upload | None) -> dict[str, Any]:
    """Findings as the designer pages show them, with the uploaded diagram and the offending elements marked."""
    marks = {f.element_id: "overdue" for f in findings if f.element_id and f.severity == "error"}
    return {"findings": [f.as_dict() for f in findings], "svg": _diagram(bpmn[1], bpmn[0], marks) if bpmn else None,
            "errors": sum(1 for f in findings if f.severity == "error")}


def _refuse_bad_bpmn(filename: str, data: bytes, field: str) -> None:
    """Refuse an uploaded BPMN that is not a bare .bpmn file name or is over the web's size limit."""
    if not filename.lower().endswith(".bpmn") or not plain_name(filename):
        raise InvalidInput("upload a .bpmn file", fields={field: "a .bpmn file"})
    if len(data) > MAX_BPMN_BYTES:
        raise InvalidInput("the BPMN file is larger than 2 MB", fields={field: "too large"})


def _uploaded_item(session: Session, item_code: str, filename: str, data: bytes) -> ItemFiles:
    """The item's current manifest with the uploaded BPMN in place of its published one."""
    _refuse_bad_bpmn(filename, data, "file")
    item = stored_item(latest_version(session, item_code))
    # Called processes are not uploaded with it: its call activities resolve against the deployed ones.
    item.manifest["bpmn"], item.bpmn, item.bpmn_name = filename, data, filename
    return item


def check_bpmn(ow: OneWindow, username: str, item_code: str, filename: str, data: bytes) -> dict[str, Any]:
    """Validate an uploaded BPMN for an item: findings, and the diagram with the offending elements marked."""
    with reading(ow.db) as session:
        _require_designer(session, username)
        findings = validate_item(session, _uploaded_item(session, item_code, filename, data), ow.forms)
    return _checked(findings, (filename, data))


def deploy_bpmn(ow: OneWindow, username: str, item_code: str, filename: str, data: bytes) -> dict[str, Any]:
    """Publish an uploaded BPMN as the item's next version (refused with findings when it has errors)."""
    with writing(ow.db) as session:
        _require_designer(session, username)
        version, is_new = deploy(session, _uploaded_item(session, item_code, filename, data), ow.forms,
                                 username, ow.clock.now())
        return {"item": version.item_code, "version": version.version, "new": is_new}


def _check_designer(ow: OneWindow, username: str) -> None:
    # The catalogue use cases open their own unit of work and trust the name they are given (as the CLI's --as),
    # so the designer's right is checked just before them.
    with reading(ow.db) as session:
        _require_designer(session, username)


@contextmanager
def _staged(manifest: Upload | None, bpmn: Upload | None) -> Iterator[Path]:
    """An uploaded called process (manifest and BPMN) or bundle (manifest) as files in a private folder, removed
    afterwards: the catalogue use cases read catalogue files, with every check the command line gets."""
    kind = manifest_kind(Path(manifest[0])) if manifest else None
    if kind not in (PROCESS, BUNDLE):
        raise InvalidInput("upload a .process.toml or .bundle.toml file",
                           fields={"manifest": "a .process.toml or .bundle.toml file"})
    name = manifest[0]
    if not plain_name(name):
        raise InvalidInput("the manifest's file name names a folder", fields={"manifest": "plain file names only"})
    if kind == PROCESS and bpmn is None:
        raise InvalidInput("a called process is uploaded with its BPMN file",
                           fields={"bpmn": "a called process needs its .bpmn file"})
    if kind == BUNDLE and bpmn is not None:
        raise InvalidInput("a bundle has no BPMN file", fields={"bpmn": "a bundle has no BPMN file"})
    if bpmn is not None:
        _refuse_bad_bpmn(*bpmn, "bpmn")
    with tempfile.TemporaryDirectory(prefix="onewindow-upload-") as folder:
        for filename, data in filter(None, (manifest, bpmn)):
            (Path(folder) / filename).write_bytes(data)
        yield Path(folder) / name


def _as_uploaded(finding: Finding, staged: Path) -> Finding:
    """A finding naming the uploaded file as the designer named it, not the private folder it was checked in."""
    return replace(finding, file=finding.file.removeprefix(f"{staged.parent}{os.sep}"))


def check_catalogue_file(ow: OneWindow, username: str, manifest: Upload | None,
                         bpmn: Upload | None = None) -> dict[str, Any]:
    """Validate an uploaded called process (.process.toml with its .bpmn) or bundle (.bundle.toml) as `validate`
    would: findings, and for a called process its diagram with the offending elements marked."""
    _check_designer(ow, username)
    with _staged(manifest, bpmn) as path:
        findings = [_as_uploaded(f, path) for f in validate_paths(ow, [path])[str(path)]]
    return _checked(findings, bpmn)


def deploy_catalogue_file(ow: OneWindow, username: str, manifest: Upload | None,
                          bpmn: Upload | None = None) -> list[dict[str, Any]]:
    """Publish an uploaded called process or bundle as `deploy` would (a called process anew also publishes the
    items calling it); refused with findings, publishing nothing, when it has errors."""
    _check_designer(ow, username)
    with _staged(manifest, bpmn) as path:
        try:
            return deploy_paths(ow, [path], username)
        except InvalidInput as exc:
            findings = [_as_uploaded(f, path) for f in exc.findings]
            raise InvalidInput("\n".join(map(str, findings)) or str(exc), findings=findings) from None
