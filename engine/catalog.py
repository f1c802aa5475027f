"""The item catalogue: processes/<code>.item.toml + .bpmn, validated and published as immutable versions."""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from engine.bpmn.expression_lint import expression_findings
from engine.bpmn.lint import lint_tree
from engine.bpmn.parser import build_specs
from engine.bpmn.xml import parse_xml
from engine.clock.limits import DEFAULT_STATUTORY
from engine.errors import Finding, InvalidInput, NotFound
from engine.forms import FormRegistry
from engine.runtime import SERIALIZER_VERSION, SPIFFWORKFLOW_VERSION, spec_to_json
from engine.store.models import Department, ProcessVersion, UserGroup

PROCESSES_DIR = Path(__file__).resolve().parents[1] / "processes"
CASE_TYPES = {"instant", "promised"}
ITEM_TYPES = {"licensing", "public_service", "confirmation", "registration", "other"}
PATTERNS = {"serial", "joint", "report-up", "proxy", "instant"}
LIMIT_RE = re.compile(r"^(\d+)(wd|d)$")
REQUIRED_KEYS = {"code", "name", "name_en", "department", "item_type", "case_type", "statutory_limit",
                 "promised_limit", "legal_basis", "process_id", "bpmn", "application_form", "materials"}


@dataclass
class ItemFiles:
    """An item as read from disk: its manifest and BPMN documents."""

    manifest: dict[str, Any]
    manifest_path: Path
    bpmn: bytes
    bpmn_name: str
    extra_bpmn: dict[str, bytes]


def parse_limit(text: str) -> tuple[int, str]:
    """Parse a limit like `20wd` (working days) or `30d` (calendar days)."""
    m = LIMIT_RE.match(str(text))
    if not m:
        raise ValueError(f"limit '{text}' must look like 20wd (working days) or 30d (calendar days)")
    return int(m.group(1)), m.group(2)


def read_item(path: Path) -> ItemFiles:
    """Read an item from its manifest (`x.item.toml`) or its BPMN file (`x.bpmn` beside `x.item.toml`)."""
    path = Path(path)
    manifest_path = path if path.name.endswith(".item.toml") else path.with_name(path.name.removesuffix(".bpmn") + ".item.toml")
    if not manifest_path.is_file():
        raise NotFound(f"{manifest_path}: no item manifest (every item is <code>.bpmn + <code>.item.toml)")
    try:
        manifest = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{manifest_path}: not valid TOML: {exc}") from None
    bpmn_path = manifest_path.parent / str(manifest.get("bpmn", ""))
    if not manifest.get("bpmn") or not bpmn_path.is_file():
        raise InvalidInput(f"{manifest_path}: bpmn = '{manifest.get('bpmn')}' does not name a file beside it")
    calls = manifest.get("calls", [])
    missing = [name for name in calls if not isinstance(name, str) or not (manifest_path.parent / name).is_file()]
    if not isinstance(calls, list) or missing:
        raise InvalidInput(f"{manifest_path}: calls = {calls!r} must list .bpmn files beside it (missing: {missing})")
    if manifest.get("pattern") == "joint":
        # Joint handling (联办) defaults to 45 working days (art. 42); the published guide shows the default.
        manifest.setdefault("statutory_limit", DEFAULT_STATUTORY["joint"])
    extra = {name: (manifest_path.parent / name).read_bytes() for name in calls}
    return ItemFiles(manifest, manifest_path, bpmn_path.read_bytes(), bpmn_path.name, extra)


def manifest_findings(item: ItemFiles, forms: FormRegistry) -> list[Finding]:
    """Check a manifest: required keys, limits (promised ≤ statutory), forms, materials."""
    m, src = item.manifest, str(item.manifest_path)
    found = [Finding("manifest-missing-key", f"missing key '{k}'", src) for k in sorted(REQUIRED_KEYS - m.keys())]
    if found:
        return found
    if m["case_type"] not in CASE_TYPES:
        found.append(Finding("manifest-case-type", f"case_type must be one of {sorted(CASE_TYPES)}", src))
    if m["item_type"] not in ITEM_TYPES:
        found.append(Finding("manifest-item-type", f"item_type must be one of {sorted(ITEM_TYPES)}", src))
    if m.get("pattern", "serial") not in PATTERNS:
        found.append(Finding("manifest-pattern", f"pattern must be one of {sorted(PATTERNS)}", src))
    if m.get("pattern") == "joint" and not m.get("departments"):
        found.append(Finding("manifest-departments", "a joint item lists its departments (lead first)", src,
                             hint='departments = ["lead-code", "co-department-code", …]'))
    try:
        statutory, s_unit = parse_limit(m["statutory_limit"])
        promised, p_unit = parse_limit(m["promised_limit"])
        # Comparable when the units match, and when a promise in working days faces a statutory limit in calendar
        # days: N working days never take fewer than N calendar days. The reverse depends on the start date.
        if promised > statutory and (s_unit == p_unit or (p_unit, s_unit) == ("wd", "d")):
            found.append(Finding("promised-over-statutory",
                                 f"promised limit {m['promised_limit']} exceeds statutory limit {m['statutory_limit']}",
                                 src, hint="the promise (承诺时限) may only shorten the statutory limit"))
    except ValueError as exc:
        found.append(Finding("manifest-limit", str(exc), src))
    if m["application_form"] not in forms.keys():
        found.append(Finding("unknown-form-key", f"application_form '{m['application_form']}' has no forms/*.json", src))
    for i, mat in enumerate(m["materials"]):
        if not isinstance(mat, dict) or not mat.get("name") or "required" not in mat:
            found.append(Finding("manifest-material", f"materials[{i}] needs a name and required = true/false", src))
    return found


def known_groups(session: Session | None) -> set[str] | None:
    """The candidate groups the organisation has, or None when there is no organisation to check against."""
    # A designer may validate against a database that was never initialised or has no users yet: then the
    # group rule cannot be applied, rather than crashing or calling every group unknown.
    if session is None or not inspect(session.connection()).has_table(UserGroup.__tablename__):
        return None
    return set(session.scalars(select(UserGroup.group_code).distinct())) or None


def xml_text(data: bytes, source: str) -> str:
    """A BPMN document as text for storage: UTF-8 as it is, another declared encoding re-encoded by lxml."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return etree.tostring(parse_xml(data, source), encoding="unicode")


def validate_item(session: Session | None, item: ItemFiles, forms: FormRegistry) -> list[Finding]:
    """All findings for an item: manifest, BPMN lint (forms, groups) and whether SpiffWorkflow can build it."""
    findings = manifest_findings(item, forms)
    groups = known_groups(session)
    documents = [(item.bpmn_name, item.bpmn), *item.extra_bpmn.items()]
    for name, data in documents:
        try:
            tree = parse_xml(data, name)
            findings += lint_tree(tree, name, forms.keys(), groups) + expression_findings(tree, name)
        except InvalidInput as exc:
            findings += exc.findings
    if not any(f.severity == "error" for f in findings):
        try:
            build_specs(documents, item.manifest["process_id"])
        except InvalidInput as exc:
            findings += exc.findings
    return findings


def deploy(session: Session, item: ItemFiles, forms: FormRegistry, actor: str, now: datetime) -> tuple[ProcessVersion, bool]:
    """Publish an item as a new version; the same content again returns the current version unchanged."""
    errors = [f for f in validate_item(session, item, forms) if f.severity == "error"]
    if errors:
        raise InvalidInput(f"{item.manifest_path.name}: {len(errors)} error(s)\n" + "\n".join(map(str, errors)),
                           findings=errors)
    m = item.manifest
    for code in [m["department"], *m.get("departments", [])]:
        if session.scalar(select(Department.id).where(Department.code == code)) is None:
            raise InvalidInput(f"{item.manifest_path.name}: department '{code}' does not exist")
    digest = hashlib.sha256(item.bpmn + repr(sorted(m.items())).encode()
                            + b"".join(item.extra_bpmn[k] for k in sorted(item.extra_bpmn))).hexdigest()
    current = latest_version(session, m["code"], required=False)
    if current is not None and current.sha256 == digest:
        return current, False
    parsed = build_specs([(item.bpmn_name, item.bpmn), *item.extra_bpmn.items()], m["process_id"])
    version = ProcessVersion(
        item_code=m["code"], version=(current.version + 1) if current else 1, process_id=m["process_id"],
        bpmn_xml=xml_text(item.bpmn, item.bpmn_name), extra_bpmn={k: xml_text(v, k) for k, v in item.extra_bpmn.items()},
        sha256=digest, manifest=m, spec_json=spec_to_json(parsed.spec, parsed.subprocess_specs),
        spiff_version=SPIFFWORKFLOW_VERSION, serializer_version=SERIALIZER_VERSION, deployed_at=now, deployed_by=actor,
    )
    session.add(version)
    session.flush()
    return version, True


def latest_version(session: Session, item_code: str, required: bool = True) -> ProcessVersion | None:
    """The newest published version of an item."""
    newest = (select(func.max(ProcessVersion.version)).where(ProcessVersion.item_code == item_code)).scalar_subquery()
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.item_code == item_code,
                                                          ProcessVersion.version == newest))
    if version is None and required:
        raise NotFound(f"no item '{item_code}' in the catalogue")
    return version


def catalogue_paths(folder: Path = PROCESSES_DIR) -> list[Path]:
    """Every item manifest in a processes folder."""
    return sorted(folder.glob("*.item.toml"))
