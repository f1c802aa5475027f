"""The catalogue: items (`<code>.item.toml` + BPMN) and the higher authorities' called processes
(`<code>.process.toml` + BPMN), validated and published as immutable versions."""
from __future__ import annotations

import hashlib
import re
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm import Session

from engine.bpmn.expression_lint import expression_findings
from engine.bpmn.lint import extension_properties, lint_tree
from engine.bpmn.parser import ParsedProcess, build_specs
from engine.bpmn.xml import MAX_BPMN_BYTES, parse_xml
from engine.calls import (
    Callee,
    Dept,
    call_activities,
    foreign_departments,
    organisation,
    resolve_callees,
    stamp_departments,
)
from engine.clock.limits import DEFAULT_STATUTORY, VARIANT_KEYS, case_limits, parse_budget, with_variant
from engine.errors import Finding, InvalidInput, NotFound
from engine.forms import FormRegistry
from engine.runtime import SERIALIZER_VERSION, SPIFFWORKFLOW_VERSION, spec_to_json
from engine.store.catalogue_models import PROCESS, CatalogueEntry
from engine.store.models import ProcessVersion, UserGroup
from engine.store.prepared import Prepared
from engine.store.writes import adopt, loaded_columns

PROCESSES_DIR = Path(__file__).resolve().parents[1] / "processes"
MANIFEST_SUFFIXES = {".item.toml": "item", ".process.toml": "process", ".bundle.toml": "bundle"}
MAX_MANIFEST_BYTES = 256 * 1024
CASE_TYPES = {"instant", "promised"}
ITEM_TYPES = {"licensing", "public_service", "confirmation", "registration", "other"}
PATTERNS = {"serial", "joint", "report-up", "proxy", "instant"}
LIMIT_RE = re.compile(r"^(\d+)(wd|d)$")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REQUIRED_KEYS = {"code", "name", "name_en", "department", "item_type", "case_type", "statutory_limit",
                 "promised_limit", "legal_basis", "process_id", "bpmn", "application_form", "materials"}
PROCESS_KEYS = {"code", "name", "name_en", "department", "process_id", "bpmn"}
TEXT_KEYS = {"code", "catalogue_code", "implementation_code", "name", "name_en", "department", "item_type",
             "case_type", "pattern", "statutory_limit", "promised_limit", "extension_limit", "correction_reply_limit",
             "process_id", "bpmn", "application_form"}
LIST_KEYS = {"legal_basis": str, "conditions": str, "departments": str, "materials": dict, "fees": dict}
LIMIT_KEYS = ("statutory_limit", "promised_limit", "extension_limit", "correction_reply_limit")
VARIANTS_SHAPE = ('[limit_variants] with field = "<application field>", then [limit_variants.values.<value>] with '
                  'statutory_limit and/or promised_limit')
# What a published item version records about the called processes it embeds (not part of the designer's file).
PINNED_CALLS = "called_processes"


@dataclass
class ItemFiles:
    """An item or a called process as read from disk: its manifest (and its text, for lines) and its BPMN."""

    manifest: dict[str, Any]
    manifest_path: Path
    bpmn: bytes
    bpmn_name: str
    kind: str = "item"
    text: str = ""


@dataclass
class Checked:
    """What validation found, and what deployment needs from it: the callees and the built specs."""

    findings: list[Finding]
    callees: list[Callee] = field(default_factory=list)
    parsed: ParsedProcess | None = None


def _refusal(code: str, message: str, path: Path | str, line: int | None = None, hint: str = "") -> InvalidInput:
    finding = Finding(code, message, str(path), line, None, hint)
    return InvalidInput(str(finding), findings=[finding])


def read_bounded(path: Path, limit: int, too_large: str = "file-too-large") -> bytes:
    """Read a regular file of at most `limit` bytes; anything else is refused with a finding, never read."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise _refusal("unreadable", "not a regular file", path, hint="name a file, not a device or a pipe")
        if info.st_size > limit:
            raise _refusal(too_large, f"file is {info.st_size} bytes, the limit is {limit}", path,
                           hint="split the model or remove embedded content")
        return path.read_bytes()
    except OSError as exc:
        raise _refusal("unreadable", f"cannot read file: {exc.strerror}", path,
                       hint="check the path and that you may read it") from None


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """A manifest's table and text; malformed TOML is refused with a finding that gives its line."""
    raw = read_bounded(path, MAX_MANIFEST_BYTES, "manifest-too-large")
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text), text
    except UnicodeDecodeError:
        raise _refusal("manifest-malformed", "not UTF-8 text", path, hint="save the manifest as UTF-8") from None
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        where = re.search(r"at line (\d+)", str(exc))
        raise _refusal("manifest-malformed", f"not valid TOML: {exc}", path, int(where.group(1)) if where else None,
                       "check quotes, brackets and `key = value` lines") from None


def manifest_kind(path: Path) -> str | None:
    """`item`, `process` or `bundle` for a manifest file name, else None."""
    return next((kind for suffix, kind in MANIFEST_SUFFIXES.items() if path.name.endswith(suffix)), None)


def manifest_beside(path: Path) -> Path | None:
    """The item or process manifest a path names or sits beside (`x.bpmn` → `x.item.toml` or `x.process.toml`)."""
    if manifest_kind(path) in ("item", "process"):
        return path if path.is_file() else None
    stem = path.name.removesuffix(".bpmn")
    return next((p for p in (path.with_name(f"{stem}.item.toml"), path.with_name(f"{stem}.process.toml"))
                 if p.is_file()), None)


def plain_name(name: Any) -> bool:
    """True for a bare file name: no folders, no parent references, nothing hidden."""
    return isinstance(name, str) and bool(name) and not name.startswith(".") and not set(name) & set("/\\:\0")


def read_item(path: Path) -> ItemFiles:
    """Read an item or called process from its manifest, or from its BPMN file beside the manifest."""
    path = Path(path)
    manifest_path = manifest_beside(path)
    if manifest_path is None:
        raise NotFound(f"{path}: no item manifest (every item is <code>.bpmn + <code>.item.toml)")
    manifest, text = read_toml(manifest_path)
    name = manifest.get("bpmn")
    # The BPMN sits beside its manifest: a path elsewhere would let a manifest read any file on the machine.
    if not plain_name(name) or not (manifest_path.parent / name).is_file():
        raise _refusal("manifest-bpmn", f"bpmn = {name!r} does not name a file beside the manifest", manifest_path,
                       toml_line(text, "bpmn"), "write the BPMN file's bare name, e.g. bpmn = \"outdoor-ad.bpmn\"")
    kind = manifest_kind(manifest_path) or "item"
    if kind == "item" and manifest.get("pattern") == "joint":
        # Joint handling (联办) defaults to 45 working days (art. 42); the published guide shows the default.
        manifest.setdefault("statutory_limit", DEFAULT_STATUTORY["joint"])
    bpmn = read_bounded(manifest_path.parent / name, MAX_BPMN_BYTES, "xml-too-large")
    return ItemFiles(manifest, manifest_path, bpmn, name, kind, text)


def toml_line(text: str, key: str | None = None, table: str | None = None, index: int = 0) -> int | None:
    """The line setting `key` (in the `index`-th `[[table]]` when given), else that table's header line."""
    current, seen, header = None, -1, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[") and not line.startswith("[\""):
            current = line.strip("[] ")
            seen += current == table
            header = number if current == table and seen == index else header
        elif key and current == table and (table is None or seen == index) and re.match(rf"{re.escape(key)}\s*=", line):
            return number
    return header


def parse_limit(text: str) -> tuple[int, str]:
    """Parse a limit like `20wd` (working days) or `30d` (calendar days)."""
    m = LIMIT_RE.match(str(text))
    if not m:
        raise ValueError(f"limit '{text}' must look like 20wd (working days) or 30d (calendar days)")
    return int(m.group(1)), m.group(2)


def limit_exceeds(shorter: str, longer: str) -> bool:
    """True when limit `shorter` is certainly longer than `longer` (ValueError on a malformed limit)."""
    short, s_unit = parse_limit(shorter)
    long, l_unit = parse_limit(longer)
    # Comparable when the units match, and when working days face calendar days: N working days never take
    # fewer than N calendar days. The reverse depends on the start date.
    return short > long and (s_unit == l_unit or (s_unit, l_unit) == ("wd", "d"))


def type_findings(m: dict[str, Any], src: str, text: str) -> list[Finding]:
    """A finding for each known key whose value has the wrong TOML type."""
    found = []
    for key, value in m.items():
        wanted = str if key in TEXT_KEYS else LIST_KEYS.get(key)
        if key in LIST_KEYS:
            ok = isinstance(value, list) and all(isinstance(v, wanted) for v in value)
        else:
            ok = wanted is None or isinstance(value, wanted)
        if not ok:
            shape = f"a list of {'tables' if wanted is dict else 'strings'}" if key in LIST_KEYS else "a string"
            found.append(Finding("manifest-type", f"'{key}' must be {shape}", src, toml_line(text, key),
                                 hint=f"write {key} as {shape}"))
    return found


def department_findings(codes: list[str], org: dict[str, Dept] | None, src: str, line: int | None) -> list[Finding]:
    """A finding for each department code the organisation does not have (nothing to say without one)."""
    return [Finding("unknown-department", f"department '{code}' does not exist", src, line,
                    hint="load the organisation that has it, or correct the code")
            for code in codes if org is not None and code not in org]


def manifest_findings(item: ItemFiles, forms: FormRegistry, org: dict[str, Dept] | None = None) -> list[Finding]:
    """Check a manifest: required keys and their types, code, departments, and for items limits, forms, materials."""
    m, src = item.manifest, str(item.manifest_path)
    required = REQUIRED_KEYS if item.kind == "item" else PROCESS_KEYS
    found = [Finding("manifest-missing-key", f"missing key '{k}'", src, hint=f"add {k} = … to the manifest")
             for k in sorted(required - m.keys())]
    found += type_findings(m, src, item.text)
    if found:
        return found
    line = partial(toml_line, item.text)
    if not CODE_RE.match(m["code"]):
        found.append(Finding("manifest-code", f"code '{m['code']}' is not a catalogue code", src, line("code"),
                             hint="lower-case letters, digits and hyphens, e.g. outdoor-ad"))
    found += department_findings([m["department"], *m.get("departments", [])], org, src, line("department"))
    return found + (_item_findings(item, forms) if item.kind == "item" else [])


def _item_findings(item: ItemFiles, forms: FormRegistry) -> list[Finding]:
    m, src, text = item.manifest, str(item.manifest_path), item.text
    line = partial(toml_line, text)
    found = []
    for key, allowed in (("case_type", CASE_TYPES), ("item_type", ITEM_TYPES), ("pattern", PATTERNS)):
        if m.get(key, "serial") not in allowed:
            found.append(Finding(f"manifest-{key.replace('_', '-')}", f"{key} must be one of {sorted(allowed)}", src,
                                 line(key), hint=f"{key} = \"{sorted(allowed)[0]}\""))
    if m.get("pattern") == "joint" and (not m.get("departments") or m["departments"][0] != m["department"]):
        found.append(Finding("manifest-departments", "a joint item lists its departments, lead (its department) "
                             "first", src, line("departments"), hint='departments = ["lead-code", "co-code", …]'))
    found += _limit_findings(m, src, text)
    if m["application_form"] not in forms.keys():
        found.append(Finding("unknown-form-key", f"application_form '{m['application_form']}' has no forms/*.json",
                             src, line("application_form"), hint=f"add forms/{m['application_form']}.json"))
    elif "limit_variants" in m:
        found += _variant_findings(m, src, text, forms)
    for i, mat in enumerate(m["materials"]):
        if not mat.get("name") or not isinstance(mat.get("required"), bool):
            found.append(Finding("manifest-material", f"materials[{i}] needs a name and required = true/false", src,
                                 toml_line(text, "name", "materials", i), hint='name = "…" and required = true'))
    for i, fee in enumerate(m.get("fees", [])):
        amount = fee.get("amount")
        if not fee.get("name") or isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            found.append(Finding("manifest-fee", f"fees[{i}] needs a name and an amount of 0 or more", src,
                                 toml_line(text, "name", "fees", i), hint='name = "不收费", amount = 0, basis = "…"'))
    if "calls" in m:
        found.append(Finding("manifest-calls", "calls ships another authority's process inside this item", src,
                             line("calls"), hint="publish the called process as processes/<code>.process.toml by its "
                             "department; call activities find it by process id"))
    return found


def _limit_findings(m: dict[str, Any], src: str, text: str) -> list[Finding]:
    found = []
    for key in LIMIT_KEYS:
        try:
            if key in m:
                parse_limit(m[key])
        except ValueError as exc:
            found.append(Finding("manifest-limit", f"{key}: {exc}", src, toml_line(text, key), hint="e.g. 20wd or 45d"))
    if not found and limit_exceeds(m["promised_limit"], m["statutory_limit"]):
        found.append(Finding("promised-over-statutory", f"promised limit {m['promised_limit']} exceeds statutory "
                             f"limit {m['statutory_limit']}", src, toml_line(text, "promised_limit"),
                             hint="the promise (承诺时限) may only shorten the statutory limit"))
    return found


def _variant_findings(m: dict[str, Any], src: str, text: str, forms: FormRegistry) -> list[Finding]:
    """The `[limit_variants]` table: a choice field of the application form, and valid limits for its values."""
    table = m["limit_variants"]

    def refuse(message: str, where: str = "limit_variants", key: str | None = None,
               code: str = "manifest-limit-variants", hint: str = VARIANTS_SHAPE) -> list[Finding]:
        line = toml_line(text, key, where) or toml_line(text, None, "limit_variants") or toml_line(text, "limit_variants")
        return [Finding(code, message, src, line, hint=hint)]

    if not isinstance(table, dict) or set(table) != {"field", "values"} or not isinstance(table["field"], str) \
            or not isinstance(table["values"], dict) or not table["values"]:
        found = f" (it has {', '.join(sorted(table)) or 'no keys'})" if isinstance(table, dict) else ""
        return refuse("limit_variants must be a table of field (an application field) and values (the limits of at "
                      f"least one of its values){found}")
    field, form = table["field"], m["application_form"]
    try:
        choices = forms.schema(form).get("properties", {}).get(field, {}).get("enum")
    except (InvalidInput, ValueError) as exc:  # a form that is not JSON (Schema) cannot say which values it takes
        return refuse(f"limit_variants.field cannot be checked against forms/{form}.json: {exc}", key="field",
                      hint=f"repair forms/{form}.json")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return refuse(f"limit_variants.field '{field}' is not a choice (enum of strings) of form '{form}'", key="field",
                      hint=f"name a field of forms/{form}.json with an enum of values")
    found = []
    for value, limits in table["values"].items():
        where = f"limit_variants.values.{value}"
        if value not in choices:
            found += refuse(f"{where}: '{value}' is not a value of {field} (one of {choices})", where)
            continue
        if not isinstance(limits, dict) or not limits or not set(limits) <= set(VARIANT_KEYS):
            found += refuse(f"{where} may set only {' and '.join(VARIANT_KEYS)}", where)
            continue
        for key, limit in limits.items():
            try:
                parse_limit(limit)
            except ValueError as exc:
                found += refuse(f"{where}.{key}: {exc}", where, key, "manifest-limit", "e.g. 20wd or 45d")
        # A variant's cases run on its own limits over the item's: its promise is compared with its statutory limit.
        resolved = with_variant(m, {field: value})
        try:
            over = limit_exceeds(resolved["promised_limit"], resolved["statutory_limit"])
        except ValueError:  # a malformed limit already has its finding, here or at the top of the manifest
            over = False
        if over:
            found += refuse(f"{where}: promised limit {resolved['promised_limit']} exceeds statutory limit "
                            f"{resolved['statutory_limit']}", where, "promised_limit", "promised-over-statutory",
                            "the promise (承诺时限) may only shorten the statutory limit")
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


def content_digest(bpmn: bytes, manifest: dict[str, Any], extra: bytes = b"") -> str:
    """What tells one published content from another: the same digest again means nothing new to publish."""
    return hashlib.sha256(bpmn + repr(sorted(manifest.items())).encode() + extra).hexdigest()


def as_callee(item: ItemFiles) -> Callee:
    """A called process read from disk, as a caller validated in the same run would run it."""
    m = item.manifest
    return Callee(m["code"], m["process_id"], m["department"], item.bpmn_name, item.bpmn,
                  content_digest(item.bpmn, m), None, str(item.manifest_path))


def check_item(session: Session | None, item: ItemFiles, forms: FormRegistry,
               candidates: dict[str, Callee] | None = None) -> Checked:
    """Validate an item or called process: manifest, BPMN lint, its calls, and whether SpiffWorkflow builds it."""
    org = organisation(session)
    checked = Checked(manifest_findings(item, forms, org))
    try:
        tree = parse_xml(item.bpmn, item.bpmn_name)
    except InvalidInput as exc:
        checked.findings += exc.findings
        return checked
    checked.findings += lint_tree(tree, item.bpmn_name, forms.keys(), known_groups(session))
    checked.findings += expression_findings(tree, item.bpmn_name)
    if any(f.code in ("manifest-missing-key", "manifest-type") for f in checked.findings):
        return checked
    m = item.manifest
    checked.callees, found = resolve_callees(session, tree, item.bpmn_name, m["department"], candidates, org)
    manifest_sound = not any(f.code.startswith("manifest-") for f in checked.findings)
    checked.findings += found + _kind_findings(session, item, tree, manifest_sound)
    if not any(f.severity == "error" for f in checked.findings):
        documents = [(item.bpmn_name, item.bpmn), *((c.bpmn_name, c.bpmn) for c in checked.callees)]
        try:
            checked.parsed = build_specs(documents, m["process_id"])
        except InvalidInput as exc:
            checked.findings += exc.findings
        except Exception as exc:  # SpiffWorkflow's parser raises assorted errors on models it cannot read
            checked.findings.append(Finding("parse-failed", f"{type(exc).__name__}: {exc}", item.bpmn_name,
                                            hint="fix the model's findings above, or simplify the element named"))
    return checked


def _kind_findings(session: Session | None, item: ItemFiles, tree: etree._ElementTree,
                   manifest_sound: bool) -> list[Finding]:
    m, src = item.manifest, str(item.manifest_path)
    if item.kind == "process":
        owner = _process_owner(session, m["process_id"])
        clash = [Finding("duplicate-process-id", f"process id '{m['process_id']}' is already published by "
                         f"'{owner}'", src, toml_line(item.text, "process_id"),
                         hint="one called process per process id: give this one another id")] \
            if owner not in (None, m["code"]) else []
        return clash + foreign_departments(tree, item.bpmn_name, m["department"])
    # limits are only compared once the manifest itself reads cleanly: its own findings say what is wrong first
    found = _step_limit_findings(item, tree) if manifest_sound else []
    if m.get("pattern") == "report-up" and not any(leg for _, _, leg in call_activities(tree)):
        return [Finding("report-up-without-leg", "a report-up item has no call activity marked leg = report-up",
                        item.bpmn_name, hint="call the higher authority's process from a call activity with the "
                        "extension property leg = report-up (its step limit defaults to 20 working days, art. 43)")]
    return found


def _step_limit_findings(item: ItemFiles, tree: etree._ElementTree) -> list[Finding]:
    """A step's `statutory_limit` replaces the case's while the case runs, so it must count in the same unit as
    the item's statutory limit and every variant's: extensions and pauses already counted keep their meaning."""
    steps = []
    for node in tree.getroot().iter():
        limit = extension_properties(node).get("statutory_limit") if isinstance(node.tag, str) else None
        try:
            steps += [(node, limit, parse_budget(limit).unit)] if limit else []
        except InvalidInput:
            continue  # the lint's bad-limit finding
    if not steps:
        return []
    m = item.manifest
    variants = m.get("limit_variants") or {}
    applications = [None] + [{variants["field"]: value} for value in variants.get("values", {})]
    units = {case_limits(m, application=application).statutory.unit for application in applications}
    found = []
    for node, limit, unit in steps:
        if units != {unit}:
            found.append(Finding("step-limit-unit", f"statutory_limit '{limit}' of '{node.get('id')}' does not count "
                                 f"in the unit of the item's statutory limit ({', '.join(sorted(units))})", item.bpmn_name,
                                 line=node.sourceline, element_id=node.get("id"),
                                 hint="write the step's limit in the same unit as the item's statutory limit"))
    return found


def _process_owner(session: Session | None, process_id: str) -> str | None:
    if session is None or not inspect(session.connection()).has_table(CatalogueEntry.__tablename__):
        return None
    return session.scalar(select(CatalogueEntry.code).where(CatalogueEntry.kind == PROCESS,
                                                            CatalogueEntry.process_id == process_id).limit(1))


def validate_item(session: Session | None, item: ItemFiles, forms: FormRegistry,
                  candidates: dict[str, Callee] | None = None) -> list[Finding]:
    """All findings for an item or called process (calls resolved against `candidates`, then deployed ones)."""
    return check_item(session, item, forms, candidates).findings


def deploy(session: Session, item: ItemFiles, forms: FormRegistry, actor: str,
           now: datetime) -> tuple[ProcessVersion | CatalogueEntry, bool]:
    """Publish an item or called process as a new version; the same content again returns the current version."""
    checked = check_item(session, item, forms)
    if organisation(session) is None:
        checked.findings.append(Finding("unknown-department", "no organisation is loaded: departments cannot be "
                                        "checked", str(item.manifest_path), hint="run `onewindow load-demo` or load "
                                        "the organisation before deploying"))
    errors = [f for f in checked.findings if f.severity == "error"]
    if errors:
        raise InvalidInput(f"{item.manifest_path.name}: {len(errors)} error(s)\n" + "\n".join(map(str, errors)),
                           findings=errors)
    if item.kind == "process":
        return _publish_process(session, item, actor, now)
    return _publish_item(session, item, checked, actor, now)


def _publish_item(session: Session, item: ItemFiles, checked: Checked, actor: str,
                  now: datetime) -> tuple[ProcessVersion, bool]:
    m = item.manifest
    pins = [c.pin() for c in checked.callees]
    digest = content_digest(item.bpmn, m, repr(pins).encode() if pins else b"")
    current = latest_version(session, m["code"], required=False)
    if current is not None and current.sha256 == digest:
        return current, False
    stamp_departments(checked.parsed.subprocess_specs, checked.callees)
    version = ProcessVersion(
        item_code=m["code"], version=(current.version + 1) if current else 1, process_id=m["process_id"],
        bpmn_xml=xml_text(item.bpmn, item.bpmn_name),
        extra_bpmn={f"{c.code}/{c.bpmn_name}": xml_text(c.bpmn, c.bpmn_name) for c in checked.callees},
        sha256=digest, manifest={**m, PINNED_CALLS: pins} if pins else m,
        spec_json=spec_to_json(checked.parsed.spec, checked.parsed.subprocess_specs),
        spiff_version=SPIFFWORKFLOW_VERSION, serializer_version=SERIALIZER_VERSION, deployed_at=now, deployed_by=actor,
    )
    session.add(version)
    session.flush()
    return version, True


def _publish_process(session: Session, item: ItemFiles, actor: str, now: datetime) -> tuple[CatalogueEntry, bool]:
    m = item.manifest
    digest = content_digest(item.bpmn, m)
    current = latest_entry(session, PROCESS, m["code"])
    if current is not None and current.sha256 == digest:
        return current, False
    entry = CatalogueEntry(kind=PROCESS, code=m["code"], version=(current.version + 1) if current else 1,
                           process_id=m["process_id"], department=m["department"], manifest=m,
                           bpmn_xml=xml_text(item.bpmn, item.bpmn_name), sha256=digest, deployed_at=now,
                           deployed_by=actor)
    session.add(entry)
    session.flush()
    return entry, True


def latest_entry(session: Session, kind: str, code: str) -> CatalogueEntry | None:
    """The newest published version of a called process or bundle."""
    return session.scalar(select(CatalogueEntry).where(CatalogueEntry.kind == kind, CatalogueEntry.code == code)
                          .order_by(CatalogueEntry.version.desc()).limit(1))


# Prepared once (engine/store/prepared.py): every application reads its item's newest version.
_PV = ProcessVersion.__table__
_LATEST_VERSION = Prepared(select(*loaded_columns(ProcessVersion)).where(_PV.c.item_code == bindparam("code"))
                           .order_by(_PV.c.version.desc()).limit(1))


def latest_version(session: Session, item_code: str, required: bool = True) -> ProcessVersion | None:
    """The newest published version of an item."""
    row = _LATEST_VERSION.first(session, {"code": item_code})
    if row is None:
        if required:
            raise NotFound(f"no item '{item_code}' in the catalogue")
        return None
    return adopt(session, ProcessVersion, row._asdict())


def latest_versions(session: Session) -> list[ProcessVersion]:
    """The newest published version of every item."""
    if not inspect(session.connection()).has_table(ProcessVersion.__tablename__):
        return []
    newest = (select(ProcessVersion.item_code, func.max(ProcessVersion.version).label("version"))
              .group_by(ProcessVersion.item_code).subquery())
    return list(session.scalars(select(ProcessVersion).join(
        newest, (ProcessVersion.item_code == newest.c.item_code) & (ProcessVersion.version == newest.c.version))
        .order_by(ProcessVersion.item_code)))


def stored_item(version: ProcessVersion) -> ItemFiles:
    """A published item version as files again (its designer's manifest, without what publishing recorded)."""
    manifest = {k: v for k, v in version.manifest.items() if k != PINNED_CALLS}
    return ItemFiles(manifest, PROCESSES_DIR / f"{version.item_code}.item.toml", version.bpmn_xml.encode("utf-8"),
                     str(manifest.get("bpmn") or f"{version.item_code}.bpmn"))


def republish_callers(session: Session, process_ids: set[str], forms: FormRegistry, actor: str, now: datetime,
                      skip: set[str] = frozenset()) -> list[tuple[ProcessVersion, list[str]]]:
    """Publish a new version of each item embedding an older version of a called process just published.

    New cases then run the callee's new version; a running case stays on the item version it started with,
    and so on the callee version that version embeds.
    """
    republished = []
    for version in latest_versions(session):
        stale = [pin["code"] for pin in version.manifest.get(PINNED_CALLS, []) if pin["process_id"] in process_ids]
        if stale and version.item_code not in skip:
            row, is_new = deploy(session, stored_item(version), forms, actor, now)
            if is_new:
                republished.append((row, stale))
    return republished


def catalogue_paths(folder: Path = PROCESSES_DIR) -> list[Path]:
    """Every item manifest in a processes folder."""
    return sorted(folder.glob("*.item.toml"))


def catalogue_files(folder: Path = PROCESSES_DIR) -> list[Path]:
    """Every manifest of a processes folder: called processes, items and bundles."""
    return sorted(p for p in folder.iterdir() if manifest_kind(p) and p.is_file())
