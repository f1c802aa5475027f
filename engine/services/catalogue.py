"""Designer use cases: validate catalogue files (items, called processes, bundles, bare BPMN) and publish them."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from engine.bootstrap import OneWindow
from engine.bpmn.expression_lint import expression_findings
from engine.bpmn.lint import lint_tree
from engine.bpmn.xml import MAX_BPMN_BYTES, parse_xml
from engine.calls import call_activities
from engine.catalog import (
    ItemFiles,
    as_callee,
    catalogue_files,
    deploy,
    manifest_beside,
    manifest_kind,
    read_bounded,
    read_item,
    republish_callers,
    toml_line,
    validate_item,
)
from engine.errors import Finding, InvalidInput, NotFound
from engine.services.bundles import BundleFile, deploy_bundle, deployed_items, read_bundle_file, validate_bundle
from engine.store.uow import reading, writing

Loaded = ItemFiles | BundleFile | list[Finding]


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[Finding]]:
    """The files named, each folder replaced by its manifests and the BPMN files with none beside them; and a
    finding for each folder that holds nothing to check."""
    files: list[Path] = []
    empty: list[Finding] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and (
            manifest_kind(p) or (p.suffix == ".bpmn" and manifest_beside(p) is None)))
        files += found
        if not found:
            empty.append(Finding("empty-folder", "the folder holds no .bpmn, .item.toml, .process.toml or "
                                 ".bundle.toml file", str(path), hint="name the catalogue folder, e.g. processes/"))
    return files, empty


def _load(path: Path) -> Loaded:
    """An item, called process or bundle from disk, or the findings that stop it being read (bare BPMN: its lint)."""
    try:
        if manifest_kind(path) == "bundle":
            return read_bundle_file(path)
        return read_item(path)
    except InvalidInput as exc:
        return exc.findings or [Finding("item-invalid", str(exc), str(path))]
    except NotFound:
        return []  # no manifest: the caller lints the file as bare BPMN


def validate_paths(ow: OneWindow, paths: list[Path]) -> dict[str, list[Finding]]:
    """Findings per file; folders are expanded; never raises for bad files."""
    files, empty = expand(paths)
    loaded = [(path, _load(path)) for path in files]
    entries = [e for _, e in loaded if not isinstance(e, list)]
    processes = [e for e in entries if isinstance(e, ItemFiles) and e.kind == "process" and _has_keys(e)]
    candidates = {p.manifest["process_id"]: as_callee(p) for p in processes}
    duplicates = _duplicates(entries)
    results: dict[str, list[Finding]] = {finding.file: [finding] for finding in empty}
    with reading(ow.db) as session:
        items = {**deployed_items(session), **{e.manifest["code"]: e.manifest for e in entries
                                               if isinstance(e, ItemFiles) and e.kind == "item" and _has_keys(e)}}
        for path, entry in loaded:
            if isinstance(entry, BundleFile):
                found = validate_bundle(session, entry, items, ow.forms)
            elif isinstance(entry, ItemFiles):
                found = validate_item(session, entry, ow.forms, candidates)
            else:
                found = entry or _lint_bare(ow, path)
            results[str(path)] = found + duplicates.get(id(entry), [])
    return results


def _has_keys(entry: ItemFiles) -> bool:
    m = entry.manifest
    return all(isinstance(m.get(k), str) for k in ("code", "process_id", "department"))


def _duplicates(entries: list[ItemFiles | BundleFile]) -> dict[int, list[Finding]]:
    """Findings on each manifest that reuses a code of its kind, or a called process id, of one read before it."""
    first: dict[tuple[str, str, str], Path] = {}
    found: dict[int, list[Finding]] = {}
    for entry in entries:
        for key in ("code", "process_id") if entry.kind == "process" else ("code",):
            value = entry.manifest.get(key)
            if not isinstance(value, str):
                continue
            owner = first.setdefault((entry.kind, key, value), entry.manifest_path)
            if owner != entry.manifest_path:
                found.setdefault(id(entry), []).append(Finding(
                    f"duplicate-{key.replace('_', '-')}", f"{key} '{value}' is also used by {owner}",
                    str(entry.manifest_path), toml_line(entry.text, key), hint=f"give each {entry.kind} its own {key}"))
    return found


def _lint_bare(ow: OneWindow, path: Path) -> list[Finding]:
    try:
        tree = parse_xml(read_bounded(path, MAX_BPMN_BYTES, "xml-too-large"), str(path))
        return lint_tree(tree, str(path), ow.forms.keys(), None) + expression_findings(tree, str(path))
    except InvalidInput as exc:
        return exc.findings


def deploy_paths(ow: OneWindow, paths: list[Path], username: str) -> list[dict]:
    """Publish called processes, then items, then bundles; all or nothing: one invalid file refuses the batch.

    Items outside the batch that embed a called process published anew get a new version of their own.
    """
    files, empty = expand(paths)
    if empty:
        raise InvalidInput("\n".join(map(str, empty)), findings=empty)
    entries = [read_bundle_file(p) if manifest_kind(p) == "bundle" else read_item(p) for p in files]
    processes = _callees_first([e for e in entries if isinstance(e, ItemFiles) and e.kind == "process"])
    items = [e for e in entries if isinstance(e, ItemFiles) and e.kind == "item"]
    bundles = [e for e in entries if isinstance(e, BundleFile)]
    now = ow.clock.now()
    with writing(ow.db) as session:
        published, changed = [], set()
        for entry in processes:
            row, is_new = deploy(session, entry, ow.forms, username, now)
            published.append({"process": row.code, "version": row.version, "new": is_new})
            changed |= {row.process_id} if is_new else set()
        for entry in items:
            row, is_new = deploy(session, entry, ow.forms, username, now)
            published.append({"item": row.item_code, "version": row.version, "new": is_new})
        for row, callees in republish_callers(session, changed, ow.forms, username, now,
                                              {e.manifest.get("code") for e in items}):
            published.append({"item": row.item_code, "version": row.version, "new": True, "calls": callees})
        for bundle in bundles:
            row, is_new = deploy_bundle(session, bundle, ow.forms, username, now)
            published.append({"bundle": row.code, "version": row.version, "new": is_new})
        return published


def _callees_first(processes: list[ItemFiles]) -> list[ItemFiles]:
    """Called processes ordered so that each comes after the processes of the batch it calls."""
    by_id = {p.manifest.get("process_id"): p for p in processes}
    ordered: list[ItemFiles] = []
    placed: set[int] = set()

    def visit(process: ItemFiles, path: tuple[int, ...]) -> None:
        if id(process) in placed or id(process) in path:
            return  # placed already, or a cycle, which validation reports when it resolves the calls
        try:
            called = [c for _, c, _ in call_activities(parse_xml(process.bpmn, process.bpmn_name))]
        except InvalidInput:
            called = []
        for process_id in called:
            if process_id in by_id:
                visit(by_id[process_id], (*path, id(process)))
        placed.add(id(process))
        ordered.append(process)

    for process in processes:
        visit(process, ())
    return ordered


def deploy_catalogue(ow: OneWindow, username: str) -> list[dict]:
    """Publish everything under processes/."""
    return deploy_paths(ow, catalogue_files(), username)
