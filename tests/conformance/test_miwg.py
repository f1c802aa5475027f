"""MIWG conformance at the CLI: every reference model validates without a crash and renders every shape."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from engine.bpmn.xml import BPMNDI_NS
from engine.cli import main

MIWG = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg"
MIWG_FILES = sorted(MIWG.glob("*.bpmn"))
PROCESSES = Path(__file__).resolve().parents[2] / "processes"
SVG = "{http://www.w3.org/2000/svg}"
FINDING_KEYS = {"code", "message", "file", "line", "element_id", "hint", "severity"}


def run_cli(capsys, *argv: str) -> tuple[int, dict | list]:
    """Run `onewindow ARGV --json` in-process; returns the exit code and the parsed output."""
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def db_arg(tmp_path) -> list[str]:
    """An empty SQLite database: validating bare BPMN files needs none of its tables."""
    return ["--db", f"sqlite:///{tmp_path / 'designer.db'}"]


def test_the_reference_models_are_all_there():
    assert len(MIWG_FILES) >= 8, f"no MIWG models under {MIWG}"


@pytest.mark.parametrize("path", MIWG_FILES, ids=lambda p: p.name)
def test_each_model_validates_to_located_findings_and_renders_every_shape(path, tmp_path, capsys, db_arg):
    code, out = run_cli(capsys, "validate", str(path), *db_arg)
    assert code in (0, 1)
    findings = out
    for finding in findings:
        assert set(finding) == FINDING_KEYS and finding["file"] == str(path) and finding["hint"]
    # These models are descriptive: the finding that they cannot run is the right answer.
    assert "not-executable" in {f["code"] for f in findings}
    svg_path = tmp_path / "diagram.svg"
    code, out = run_cli(capsys, "render", str(path), "-o", str(svg_path), *db_arg)
    assert code == 0 and out["bytes"] > 0
    drawn = {g.get("id") for g in etree.parse(str(svg_path)).getroot().iter(f"{SVG}g")}
    shapes = {s.get("bpmnElement") for s in etree.parse(str(path)).getroot().iter(f"{{{BPMNDI_NS}}}BPMNShape")}
    assert shapes and shapes <= drawn, f"not drawn: {sorted(shapes - drawn)}"


@pytest.mark.parametrize("content", [
    b"", b"not xml at all", b"<definitions><process", b"\x89PNG\r\n\x1a\n\x00\x00",
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><d>&b;</d>',
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
], ids=["empty", "text", "truncated", "png", "entities", "other-xml", "empty-definitions"])
def test_any_input_yields_findings_never_a_crash(content, tmp_path, capsys, db_arg):
    path = tmp_path / "upload.bpmn"
    path.write_bytes(content)
    code, out = run_cli(capsys, "validate", str(path), *db_arg)
    assert code == 1
    assert out and all(f["code"] and f["file"] == str(path) for f in out)


def test_juel_beyond_the_subset_names_the_element_and_the_expression(tmp_path, capsys, db_arg):
    source = (PROCESSES / "outdoor-ad.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "juel.bpmn"
    path.write_text(source.replace("decision == 'pass'", "${execution.getVariable('decision') == 'pass'}"),
                    encoding="utf-8")
    code, out = run_cli(capsys, "validate", str(path), *db_arg)
    (finding,) = [f for f in out if f["code"] == "juel-beyond-subset"]
    assert code == 1 and finding["element_id"] == "f_review_pass" and "execution.getVariable" in finding["message"]
    path.write_text(source.replace("decision == 'pass'", "${decision eq 'pass' &amp;&amp; !empty opinion}"),
                    encoding="utf-8")
    code, out = run_cli(capsys, "validate", str(path), *db_arg)
    assert code == 0 and out == []


def test_render_highlights_elements_by_state(tmp_path, capsys, db_arg):
    svg_path = tmp_path / "food.svg"
    code, _ = run_cli(capsys, "render", str(PROCESSES / "food-business.bpmn"), "-o", str(svg_path),
                      "--highlight", "intake=completed", "--highlight", "review=active", *db_arg)
    assert code == 0
    classes = {g.get("id"): g.get("class", "").split() for g in etree.parse(str(svg_path)).getroot().iter(f"{SVG}g")}
    assert "completed" in classes["intake"] and "active" in classes["review"]
    assert not {"completed", "active"} & set(classes["inspection"])
    with pytest.raises(SystemExit):
        main(["render", str(PROCESSES / "food-business.bpmn"), "-o", str(svg_path), "--highlight", "review=green"])


def test_the_installed_command_validates_every_model_in_one_run(db_arg):
    command = Path(sys.executable).with_name("onewindow")
    done = subprocess.run([str(command), "validate", "--json", *db_arg, *map(str, MIWG_FILES)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    findings = json.loads(done.stdout)
    assert isinstance(findings, list) and {f["file"] for f in findings} == set(map(str, MIWG_FILES))


def test_render_to_an_unwritable_place_is_refused_with_the_reason(tmp_path, capsys, db_arg):
    code, out = run_cli(capsys, "render", str(MIWG_FILES[0]), "-o", str(tmp_path / "no-such-folder" / "x.svg"), *db_arg)
    assert code == 1 and out["kind"] == "InvalidInput" and "cannot write the diagram" in out["error"]


SHIPPED_BPMN = sorted(PROCESSES.glob("*.bpmn"))


def test_the_shipped_catalogue_folder_validates_clean_at_the_installed_command(db_arg):
    # Items, the higher authorities' called processes and the bundle: called processes resolve within the run.
    command = Path(sys.executable).with_name("onewindow")
    done = subprocess.run([str(command), "validate", "--json", *db_arg, str(PROCESSES)],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (0, [], "")


@pytest.mark.parametrize("path", SHIPPED_BPMN, ids=lambda p: p.name)
def test_each_shipped_model_renders_every_shape(path, tmp_path, capsys, db_arg):
    svg_path = tmp_path / "diagram.svg"
    code, out = run_cli(capsys, "render", str(path), "-o", str(svg_path), *db_arg)
    assert code == 0 and out["bytes"] > 0
    drawn = {g.get("id") for g in etree.parse(str(svg_path)).getroot().iter(f"{SVG}g")}
    shapes = {s.get("bpmnElement") for s in etree.parse(str(path)).getroot().iter(f"{{{BPMNDI_NS}}}BPMNShape")}
    flow_nodes = {n.get("id") for n in etree.parse(str(path)).getroot().iter()
                  if isinstance(n.tag, str) and n.getparent() is not None and n.getparent().tag.endswith("}process")
                  and not n.tag.endswith(("sequenceFlow", "laneSet", "extensionElements"))}
    assert shapes and shapes <= drawn and flow_nodes <= shapes, sorted((shapes - drawn) | (flow_nodes - shapes))


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"code = [[[", b"items = 'x'"], ids=["empty", "nul", "toml",
                                                                                           "items"])
def test_a_hostile_bundle_yields_findings_never_a_crash(content, tmp_path, capsys, db_arg):
    path = tmp_path / "upload.bundle.toml"
    path.write_bytes(content)
    code, out = run_cli(capsys, "validate", str(path), *db_arg)
    assert code == 1 and out and all(f["code"] and f["file"] == str(path) and f["hint"] for f in out)
