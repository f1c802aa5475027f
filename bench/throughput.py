"""Throughput on the reference workload (shared/bench/serial3.bpmn), OneWindow beside the engine-only bound.

One instance = apply, then complete the three user tasks, each a separate transaction that persists the state,
the history event and the inbox projection. The bound, measured in the same run, is plain SpiffWorkflow doing
deserialize → complete one task → serialize per step with its default serializer and no database.
Usage: python bench/throughput.py [--instances N] [--databases sqlite,postgres]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from SpiffWorkflow import TaskState
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import SHARED_BENCH, bench_database  # noqa: E402
from engine import services  # noqa: E402
from engine.store.models import Case  # noqa: E402
from engine.store.uow import reading  # noqa: E402

SERIAL3 = SHARED_BENCH / "serial3.bpmn"
PEER = 9.2  # spiff-arena backend through its service layer, same machine kind, measured 2026-11-23 (shared/bench)
MANIFEST = """code = "serial3"
name = "基准：三步串行审批"
name_en = "Benchmark: serial approval, three steps"
department = "city-urban"
item_type = "other"
case_type = "promised"
statutory_limit = "20wd"
promised_limit = "5wd"
legal_basis = ["benchmark"]
process_id = "serial3"
bpmn = "serial3.bpmn"
application_form = "bench-application"
materials = []
"""
BENCH_FORM = '{"type": "object", "additionalProperties": false, "properties": {"subject": {"type": "string"}}}'
STEPS = [("accept", "window1"), ("review", "reviewer1"), ("decide", "chief1")]


def engine_bound(instances: int) -> float:
    """Instances/s of plain SpiffWorkflow: deserialize → complete one task → serialize, per step."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(SERIAL3))
    spec = parser.get_spec("serial3")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    start = time.perf_counter()
    for _ in range(instances):
        wf = BpmnWorkflow(spec)
        wf.do_engine_steps()
        state = serializer.serialize_json(wf)
        for _step in STEPS:
            wf = serializer.deserialize_json(state)
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            task.run()
            wf.do_engine_steps()
            state = serializer.serialize_json(wf)
        assert wf.is_completed()
    return instances / (time.perf_counter() - start)


def onewindow_run(ow, instances: int) -> tuple[float, float]:
    """Instances/s through the use-case layer, and the mean stored state size per case in bytes."""
    start = time.perf_counter()
    for i in range(instances):
        case_no = services.apply(ow, "serial3", "zhangsan", {"subject": f"bench {i}"})["case_no"]
        for bpmn_id, user in STEPS:
            task = services.inbox(ow, user, scope="groups", limit=1)[0]
            assert task["bpmn_id"] == bpmn_id and task["case_no"] == case_no
            services.complete(ow, task["task_id"], user, {})
    elapsed = time.perf_counter() - start
    with reading(ow.db) as session:
        concluded = session.scalar(select(func.count(Case.id)).where(Case.status == "DECIDED"))
        size = session.scalar(select(func.avg(func.length(Case.state_json))))
    assert concluded >= instances, f"only {concluded} of {instances} cases concluded"
    return instances / elapsed, float(size)


def main() -> None:
    """Run both sides per database and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report the median")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(SERIAL3, Path(folder) / "serial3.bpmn")
        (Path(folder) / "serial3.item.toml").write_text(MANIFEST, encoding="utf-8")
        forms_dir = Path(folder) / "forms"
        shutil.copytree(Path(__file__).resolve().parents[1] / "forms", forms_dir)
        (forms_dir / "bench-application.json").write_text(BENCH_FORM, encoding="utf-8")
        table = Table(title=f"serial3, {args.instances} sequential instances per run (instances/s)")
        for col in ("database", "engine-only bound", "OneWindow", "ratio to bound", "× peer (9.2/s)", "state bytes/case"):
            table.add_column(col, justify="right")
        for kind in args.databases.split(","):
            bounds, ours, sizes = [], [], []
            for _ in range(args.rounds):
                with bench_database(kind) as ow:
                    ow.forms.folder = forms_dir
                    services.deploy_paths(ow, [Path(folder) / "serial3.item.toml"], "admin")
                    bounds.append(engine_bound(args.instances))
                    rate, size = onewindow_run(ow, args.instances)
                    ours.append(rate)
                    sizes.append(size)
                    ow.db.dispose()
            bound, rate = statistics.median(bounds), statistics.median(ours)
            table.add_row(kind, f"{bound:.0f}", f"{rate:.0f}", f"{rate / bound:.2f}", f"{rate / PEER:.1f}×",
                          f"{statistics.median(sizes):,.0f}")
        console.print(table)


if __name__ == "__main__":
    main()
