"""Bundles (一件事): one form and one intake that open and accept parallel sub-cases of several items.

A bundle is `processes/<code>.bundle.toml`: its application form, the centre whose window takes the one intake,
the promise for the whole, and for each item the form fields that item takes. It is validated and published like
an item: every member must be a published item, the one form must give each member everything its own form
requires, and no member may promise longer than the bundle. Each sub-case is an ordinary case of its item (own
number, workflow, clocks and history) and runs in parallel with the others; the bundle links them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bootstrap import OneWindow
from engine.calls import Dept, organisation
from engine.catalog import (
    CODE_RE,
    PROCESSES_DIR,
    content_digest,
    department_findings,
    latest_entry,
    latest_versions,
    limit_exceeds,
    read_toml,
    toml_line,
)
from engine.errors import Conflict, Finding, InvalidInput, NotFound
from engine.forms import FormRegistry
from engine.history import append_event, case_state_hash
from engine.services.actors import resolve_actor
from engine.services.intake import intake_case, open_case
from engine.store.catalogue_models import BUNDLE, CatalogueEntry
from engine.store.models import Case, CaseBundle
from engine.store.uow import reading, writing

SUFFIX = ".bundle.toml"
REQUIRED_KEYS = {"code", "name", "name_en", "application_form", "items"}
TEXT_KEYS = {"code", "name", "name_en", "application_form", "department", "promised_limit", "statutory_limit"}
# A member's field bound the bundle form must match or tighten, else the bundle accepts what the member refuses.
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


@dataclass
class BundleFile:
    """A bundle manifest as read from disk, with its text for finding lines."""

    manifest: dict[str, Any]
    manifest_path: Path
    text: str = ""
    kind = "bundle"


def read_bundle_file(path: Path) -> BundleFile:
    """Read `<code>.bundle.toml`; unreadable or malformed files are refused with a finding."""
    manifest, text = read_toml(Path(path))
    return BundleFile(manifest, Path(path), text)


def read_bundle(code: str, folder: Path = PROCESSES_DIR) -> dict[str, Any]:
    """A bundle's definition from `<code>.bundle.toml` in a folder."""
    path = folder / f"{code}{SUFFIX}"
    if not CODE_RE.match(code or "") or not path.is_file():
        raise NotFound(f"no bundle '{code}'")
    return read_bundle_file(path).manifest


def deployed_items(session: Session) -> dict[str, dict[str, Any]]:
    """The manifest of the newest published version of every item, by code."""
    return {version.item_code: version.manifest for version in latest_versions(session)}


def validate_bundle(session: Session | None, bundle: BundleFile, items: Mapping[str, dict[str, Any]],
                    forms: FormRegistry) -> list[Finding]:
    """Every finding for a bundle, its members looked up in `items` (manifests by code)."""
    return bundle_findings(bundle, items, forms, organisation(session))


def bundle_findings(bundle: BundleFile, items: Mapping[str, dict[str, Any]], forms: FormRegistry,
                    org: Mapping[str, Dept] | None) -> list[Finding]:
    """Keys, code, members, the one form against each member's form, departments and limits of a bundle."""
    found = _shape_findings(bundle)
    if any(f.severity == "error" for f in found):
        return found
    m, src = bundle.manifest, str(bundle.manifest_path)
    form = _schema(forms, m["application_form"])
    if form is None:
        found.append(Finding("unknown-form-key", f"application_form '{m['application_form']}' has no forms/*.json",
                             src, toml_line(bundle.text, "application_form"),
                             hint=f"add forms/{m['application_form']}.json"))
    for i, entry in enumerate(m["items"]):
        line = partial(toml_line, bundle.text, table="items", index=i)
        member = items.get(entry["item"])
        if member is None:
            found.append(Finding("bundle-unknown-item", f"items[{i}]: item '{entry['item']}' is not in the catalogue",
                                 src, line("item"), hint="deploy the item first, or validate it together with the "
                                 "bundle"))
            continue
        theirs = _schema(forms, member.get("application_form"))
        if form is not None and theirs is not None:
            found += _field_findings(src, line("fields"), entry, form, theirs)
        found += _member_department(src, line("item"), entry["item"], member, m.get("department"), org)
        found += _member_limit(src, line("item"), entry["item"], member, m.get("promised_limit"))
    return found + department_findings([m["department"]] if "department" in m else [], org, src,
                                       toml_line(bundle.text, "department"))


def _shape_findings(bundle: BundleFile) -> list[Finding]:
    m, src, text = bundle.manifest, str(bundle.manifest_path), bundle.text
    found = [Finding("bundle-missing-key", f"missing key '{k}'", src, hint=f"add {k} = … to the bundle")
             for k in sorted(REQUIRED_KEYS - m.keys())]
    found += [Finding("manifest-type", f"'{k}' must be a string", src, toml_line(text, k), hint=f'{k} = "…"')
              for k in sorted(TEXT_KEYS & m.keys()) if not isinstance(m[k], str)]
    members = m.get("items")
    if "items" in m and (not isinstance(members, list) or not all(_member_ok(e) for e in members)):
        found.append(Finding("manifest-type", "items must be tables, each with item = \"code\" and fields = a list "
                             "of field names", src, toml_line(text, table="items"),
                             hint='[[items]] item = "company-registration" fields = ["company_name"]'))
    if found:
        return found
    if not CODE_RE.match(m["code"]) or bundle.manifest_path.name != f"{m['code']}{SUFFIX}":
        found.append(Finding("bundle-code", f"code '{m['code']}' must be a catalogue code and the file must be named "
                             f"{m['code']}{SUFFIX}", src, toml_line(text, "code"),
                             hint="the catalogue finds a bundle by its file name: keep code and file name the same"))
    seen: set[str] = set()
    for i, entry in enumerate(members):
        if entry["item"] in seen:
            found.append(Finding("bundle-duplicate-item", f"item '{entry['item']}' is in the bundle twice", src,
                                 toml_line(text, "item", "items", i), hint="list each item once"))
        seen.add(entry["item"])
    if len(seen) < 2:
        found.append(Finding("bundle-too-few-items", "a bundle joins two or more items", src,
                             toml_line(text, table="items"), hint="apply for a single item directly", severity="warning"))
    return found + _bundle_limits(m, src, text)


def _member_ok(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("item"), str) and isinstance(entry.get("fields"), list)
            and all(isinstance(f, str) for f in entry["fields"]))


def _bundle_limits(m: dict[str, Any], src: str, text: str) -> list[Finding]:
    """The bundle's own limits parse, and its promise does not exceed its statutory limit."""
    promise, statutory = m.get("promised_limit"), m.get("statutory_limit")
    try:
        over = limit_exceeds(promise or "0wd", statutory or promise or "0wd")
    except ValueError as exc:
        return [Finding("manifest-limit", str(exc), src, toml_line(text, "promised_limit"), hint="e.g. 1wd")]
    return [Finding("promised-over-statutory", f"the bundle promises {promise}, longer than its statutory limit "
                    f"{statutory}", src, toml_line(text, "promised_limit"),
                    hint="the promise may only shorten the statutory limit")] if over else []


def _schema(forms: FormRegistry, key: Any) -> dict[str, Any] | None:
    try:
        schema = forms.schema(key) if isinstance(key, str) else None
    except (NotFound, InvalidInput, ValueError):
        return None
    return schema if isinstance(schema, dict) and isinstance(schema.get("properties", {}), dict) else None


def _field_findings(src: str, line: int | None, entry: dict[str, Any], own: dict[str, Any],
                    theirs: dict[str, Any]) -> list[Finding]:
    """The bundle form must hold each field it passes, and give the member every field its form requires."""
    item, fields = entry["item"], entry["fields"]
    own_props, their_props = own.get("properties", {}), theirs.get("properties", {})
    own_required, their_required = set(own.get("required", [])), set(theirs.get("required", []))
    found = []

    def add(code: str, message: str, hint: str) -> None:
        found.append(Finding(code, f"{item}: {message}", src, line, hint=hint))

    for name in fields:
        if name not in own_props:
            add("bundle-field-missing", f"field '{name}' is not in the bundle form", "add the field to the bundle form")
        elif name not in their_props:
            add("bundle-field-unknown", f"the item's form has no field '{name}'", "pass only fields the item's form has")
        elif reason := _looser(own_props[name], their_props[name]):
            add("bundle-field-type", f"field '{name}': {reason}", "give the bundle form the item's own field definition")
    for name in sorted(their_required - set(fields)):
        add("bundle-field-uncovered", f"the item's form requires '{name}', which the bundle does not pass",
            f"add '{name}' to the item's fields (and to the bundle form)")
    for name in sorted((their_required & set(fields) & own_props.keys()) - own_required):
        add("bundle-field-optional", f"the item's form requires '{name}', but the bundle form lets it be left out",
            f"list '{name}' under required in the bundle form")
    return found


def _looser(own: Any, theirs: Any) -> str | None:
    """Why a bundle field accepts values the member's field refuses, or None."""
    if not isinstance(own, dict) or not isinstance(theirs, dict):
        return None
    if own.get("type") != theirs.get("type"):
        return f"type {own.get('type')!r} in the bundle, {theirs.get('type')!r} in the item"
    allowed, offered = theirs.get("enum"), own.get("enum")
    if isinstance(allowed, list) and (not isinstance(offered, list) or any(v not in allowed for v in offered)):
        return "the bundle allows values the item's enum does not"
    for key in ("pattern", "format", "const"):
        if key in theirs and own.get(key) != theirs[key]:
            return f"{key} differs from the item's"
    for key in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
        bound, mine = theirs.get(key), own.get(key)
        if not isinstance(bound, int | float):
            continue
        tight = isinstance(mine, int | float) and (mine >= bound if key in _LOWER_BOUNDS else mine <= bound)
        if not tight:
            return f"{key} {mine} in the bundle is looser than the item's {bound}"
    return None


def _member_department(src: str, line: int | None, code: str, member: dict[str, Any], centre: str | None,
                       org: Mapping[str, Dept] | None) -> list[Finding]:
    """The member's department exists and falls under the centre whose window takes the bundle's intake."""
    department = member.get("department")
    if org is None or not isinstance(department, str):
        return []
    if department not in org:
        return department_findings([department], org, src, line)
    if centre is None or centre not in org:
        return []
    ancestors, current = [], department
    while current is not None and current not in ancestors:
        ancestors.append(current)
        current = org[current].parent if current in org else None
    if centre in ancestors:
        return []
    return [Finding("bundle-department", f"{code} is handled by '{department}', which is not under '{centre}', "
                    "whose window takes the bundle's one intake", src, line,
                    hint="bundle items of departments the centre hosts, or name the centre that hosts them all")]


def _member_limit(src: str, line: int | None, code: str, member: dict[str, Any], promise: str | None) -> list[Finding]:
    """A member promising longer than the bundle, on its own limits or on any of its limit variants, would break
    the bundle's promise."""
    if promise is None:
        return []
    variants = member.get("limit_variants") or {}
    promises = [(member.get("promised_limit"), "")] + [
        (limits["promised_limit"], f" when {variants['field']} = {value}")
        for value, limits in (variants.get("values") or {}).items() if "promised_limit" in limits]
    for own, when in promises:
        try:
            longer = limit_exceeds(str(own), promise)
        except ValueError:
            continue  # a malformed limit is the item's own finding; the bundle's own is a shape finding
        if longer:
            return [Finding("bundle-promise", f"{code} promises {own}{when}, longer than the bundle's promise of "
                            f"{promise}", src, line, hint="shorten the item's promise or lengthen the bundle's")]
    return []


def deploy_bundle(session: Session, bundle: BundleFile, forms: FormRegistry, actor: str,
                  now: datetime) -> tuple[CatalogueEntry, bool]:
    """Publish a bundle as a new version (its members must be published); the same content again is a no-op."""
    errors = [f for f in validate_bundle(session, bundle, deployed_items(session), forms) if f.severity == "error"]
    if errors:
        raise InvalidInput(f"{bundle.manifest_path.name}: {len(errors)} error(s)\n" + "\n".join(map(str, errors)),
                           findings=errors)
    m = bundle.manifest
    digest = content_digest(b"", m)
    current = latest_entry(session, BUNDLE, m["code"])
    if current is not None and current.sha256 == digest:
        return current, False
    entry = CatalogueEntry(kind=BUNDLE, code=m["code"], version=(current.version + 1) if current else 1,
                           department=m.get("department"), manifest=m, sha256=digest, deployed_at=now,
                           deployed_by=actor)
    session.add(entry)
    session.flush()
    return entry, True


def deployed_bundle(session: Session, code: str) -> CatalogueEntry:
    """The newest published version of a bundle."""
    entry = latest_entry(session, BUNDLE, code) if isinstance(code, str) else None
    if entry is None:
        raise NotFound(f"no bundle '{code}'")
    return entry


def apply_bundle(ow: OneWindow, bundle_code: str, username: str, data: dict[str, Any],
                 applicant: dict[str, Any] | None = None, on_behalf_of: str | None = None) -> dict[str, Any]:
    """Submit one bundle form: every item of the bundle gets its sub-case, all in one transaction."""
    with writing(ow.db) as session:
        published = deployed_bundle(session, bundle_code)
        bundle = published.manifest
        actor = resolve_actor(session, username)
        cleaned = ow.forms.clean(bundle["application_form"], data)
        cases = [open_case(ow, session, actor, entry["item"], {f: cleaned[f] for f in entry["fields"] if f in cleaned},
                           applicant, on_behalf_of) for entry in bundle["items"]]
        # The bundle is numbered after its first sub-case, so the number needs no counter of its own.
        bundle_no = f"{cases[0].case_no}-YJS"
        for case in cases:
            session.add(CaseBundle(bundle_no=bundle_no, bundle_code=bundle_code, case_id=case.id))
            append_event(session, case, "bundled", username,
                         {"bundle_no": bundle_no, "bundle_code": bundle_code, "bundle_version": published.version,
                          "cases": [c.case_no for c in cases], "status": case.status},
                         ow.clock.now(), case_state_hash(case), on_behalf_of)
        return {"bundle_no": bundle_no, "bundle_code": bundle_code, "cases": [_view(c) for c in cases]}


def accept_bundle(ow: OneWindow, bundle_no: str, username: str, opinion: str = "") -> dict[str, Any]:
    """The bundle's one intake: accept every sub-case still waiting for intake (instant items conclude on the spot)."""
    with writing(ow.db) as session:
        actor = resolve_actor(session, username)
        actor.require_group("window")
        cases = _cases(session, bundle_no)
        waiting = [c for c in cases if c.status == "RECEIVED"]
        if not waiting:
            raise Conflict(f"bundle {bundle_no} has no sub-case waiting for intake")
        for case in waiting:
            intake_case(ow, session, actor, case, {"intake_decision": "accept", "intake_opinion": opinion})
        return {"bundle_no": bundle_no, "cases": [_view(c) for c in cases]}


def bundle_detail(ow: OneWindow, bundle_no: str) -> dict[str, Any]:
    """A bundle's sub-cases with their statuses; the bundle is done when every sub-case is."""
    with reading(ow.db) as session:
        cases = _cases(session, bundle_no)
        concluded = all(c.concluded_at is not None for c in cases)
        return {"bundle_no": bundle_no, "done": concluded, "cases": [_view(c) for c in cases]}


def _cases(session, bundle_no: str) -> list[Case]:
    cases = session.scalars(select(Case).join(CaseBundle, CaseBundle.case_id == Case.id)
                            .where(CaseBundle.bundle_no == bundle_no).order_by(Case.id)).all()
    if not cases:
        raise NotFound(f"no bundle case {bundle_no}")
    return list(cases)


def _view(case: Case) -> dict[str, Any]:
    return {"case_no": case.case_no, "item_code": case.item_code, "status": case.status, "result": case.result}
