"""W1 completion cost: the twelve human tasks of the conditional data_authorization route.

* service layer: ``tasks.complete`` + commit, one transaction per completion (SQLite);
* HTTP: ``POST /api/v1/tasks/<id>/complete`` to gunicorn (one sync worker, SQLite, loopback);
* both with the document stand-in of :mod:`bench.nulldocs` (three steps issue a PDF in the
  completing transaction; W6 measures that), and once more through the service layer with
  real documents, per element, for the record;
* floor: the bare engine doing the same step in memory from the same stored state
  (deserialize the whole workflow, complete, run, serialize; :mod:`bench.bare`), timed right
  after each service-layer completion so that both see the same machine load;
* for reference: our engine layer alone (``app.engine.complete_task``, no database).

The first instance of each series warms caches and is not counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from bench import bare, nulldocs, scenario
from bench.common import Check, Result, Workspace, app_context, ratio, summary, timed
from bench.server import Client, Server, token

INSTANCES = 8  # counted instances per series (plus one warm-up)
REAL_DOCUMENT_INSTANCES = 2
FLOOR_REPEATS = 3

TARGET = ("service-layer completion <= 3x the bare engine; HTTP completion median <= 12 ms and "
          "p95 <= 25 ms on SQLite, for the sequential steps and for the parallel sign-offs")


@dataclass
class Captured:
    """A step as the service layer met it: the stored state before it, and what was done."""

    whole: str  # SpiffWorkflow's serialization (state + spec) for the bare engine
    state: dict[str, Any]
    state_version: int
    spec_json: str
    task_id: str
    step: scenario.Step
    data: dict[str, Any]


def run(ws: Workspace) -> Result:
    result = Result("W1", "completion cost (data_authorization, 12 human tasks)", TARGET)
    url, folder = ws.sqlite("w1-service")
    real = _real_documents(url, folder)
    floor: list[tuple[str, float]] = []
    engine_only: list[tuple[str, float]] = []

    def floors(item: Captured) -> None:
        """Right after each service-layer completion, the floor and our engine alone on the
        same stored state: the three figures see the same machine load."""
        floor.extend(_bare_engine(item))
        engine_only.extend(_engine_layer(item))

    with nulldocs.installed():
        service, _captured = _service_layer(url, folder, after=floors)
    url, folder = ws.sqlite("w1-http")
    http = _http(url, folder)

    def split(samples: list[tuple[str, float]]) -> dict[str, Any]:
        return {"all": summary([ms for _, ms in samples]),
                "sequential": summary([ms for kind, ms in samples if kind == "sequential"]),
                "parallel_signoff": summary([ms for kind, ms in samples if kind == "parallel"])}

    result.figures = {"service_layer": split(service), "http": split(http),
                      "engine_layer_in_memory": split(engine_only),
                      "service_layer_real_documents_median_ms_by_element": real,
                      "instances": INSTANCES, "steps_per_instance": len(scenario.route()), "database": "sqlite"}
    result.floor = {"bare_engine": split(floor)}
    service_median = result.figures["service_layer"]["all"]["median_ms"]
    floor_median = result.floor["bare_engine"]["all"]["median_ms"]
    result.ratio = ratio(service_median, floor_median)
    seq, par = result.figures["http"]["sequential"], result.figures["http"]["parallel_signoff"]
    result.figure = (f"service {service_median} ms vs bare engine {floor_median} ms = x{result.ratio}; "
                     f"HTTP sequential {seq['median_ms']}/{seq['p95_ms']} ms, "
                     f"sign-off {par['median_ms']}/{par['p95_ms']} ms (median/p95)")
    result.checks = [
        Check("service / bare engine (median)", result.ratio, 3.0),
        Check("HTTP sequential median ms", seq["median_ms"], 12.0),
        Check("HTTP sequential p95 ms", seq["p95_ms"], 25.0),
        Check("HTTP sign-off median ms", par["median_ms"], 12.0),
        Check("HTTP sign-off p95 ms", par["p95_ms"], 25.0),
    ]
    return result


def _real_documents(url: str, folder: Any) -> dict[str, float]:
    """Service-layer completion per element with WeasyPrint and pyHanko really at work."""
    import statistics

    by_element: dict[str, list[float]] = {}
    for element, ms in _service_layer(url, folder, REAL_DOCUMENT_INSTANCES, by_element=True)[0]:
        by_element.setdefault(element, []).append(ms)
    return {element: round(statistics.median(values), 1) for element, values in by_element.items()}


def _service_layer(url: str, folder: Any, instances: int = INSTANCES, *, by_element: bool = False,
                   after: Callable[[Captured], None] | None = None) -> tuple[list[tuple[str, float]], list[Captured]]:
    from app.extensions import db
    from app.models import ProcessInstance, User
    from app.services import processes, tasks

    samples: list[tuple[str, float]] = []
    captured: list[Captured] = []
    with app_context(url, folder):
        for index in range(instances + 1):
            session = db.new_session()
            requester = session.execute(select(User).where(User.username == scenario.REQUESTER)).scalar_one()
            instance_id = processes.start(session, requester, scenario.PROCESS, scenario.request()).id
            session.commit()
            session.close()
            for step in scenario.route():
                reader = db.new_session()
                task_id = scenario.open_task_id(reader, instance_id, step)
                row = reader.get(ProcessInstance, instance_id)
                assert row is not None
                before = Captured(bare.whole_state(row.state, row.definition.spec_json), row.state, row.state_version,
                                  row.definition.spec_json, task_id, step, step.data(date.today()))
                reader.close()
                session = db.new_session()
                actor = session.execute(select(User).where(User.username == step.username)).scalar_one()
                ms, _ = timed(lambda s=session, a=actor, t=task_id, d=before.data: (
                    tasks.complete(s, a, t, d), s.commit()))
                session.close()
                if index:
                    samples.append((step.element if by_element else step.kind, ms))
                    captured.append(before)
                    if after is not None:
                        after(before)
            _check_outcome(instance_id)
    return samples, captured


def _check_outcome(instance_id: int) -> None:
    from app.extensions import db
    from app.models import ProcessInstance

    session = db.new_session()
    row = session.get(ProcessInstance, instance_id)
    assert row is not None
    if (row.status, row.outcome) != ("completed", "approved"):
        raise RuntimeError(f"instance {instance_id} ended {row.status}/{row.outcome}, not completed/approved")
    session.close()


def _bare_engine(item: Captured) -> list[tuple[str, float]]:
    samples = []
    for _ in range(FLOOR_REPEATS):
        ms, _out = bare.step(item.whole, item.task_id, item.step.element, item.data)
        samples.append((item.step.kind, ms))
    return samples


def _engine_layer(item: Captured) -> list[tuple[str, float]]:
    """Our engine package alone: restricted scripts, pruning, spec caching; no database."""
    from app import engine

    actions = {name: (lambda params, data: {"id": 1, "number": "BENCH-1"})
               for name in ("record_agreement", "issue_grant", "issue_document")}
    samples = []
    for _ in range(FLOOR_REPEATS):
        state = json.loads(json.dumps(item.state))
        ms, _out = timed(lambda i=item, s=state: engine.complete_task(
            i.spec_json, s, i.state_version, i.task_id, {i.step.element: i.data}, actions=actions))
        samples.append((item.step.kind, ms))
    return samples


def _http(url: str, folder: Any) -> list[tuple[str, float]]:
    from app.extensions import make_engine

    samples: list[tuple[str, float]] = []
    reader = make_engine(url)
    with Server(url, folder, workers=1) as server:
        users = {scenario.REQUESTER, *(step.username for step in scenario.route())}
        tokens = {name: token(server.port, name) for name in users}
        for index in range(INSTANCES + 1):
            status, body = Client(server.port, tokens[scenario.REQUESTER]).request(
                "POST", f"/api/v1/processes/{scenario.PROCESS}/instances", {"data": scenario.request()})
            if status != 201:
                raise RuntimeError(f"start failed: {status} {body}")
            instance_id = body["id"]
            for step in scenario.route():
                from sqlalchemy.orm import Session

                with Session(reader) as session:
                    task_id = scenario.open_task_id(session, instance_id, step)
                ms = Client(server.port, tokens[step.username]).complete(task_id, step.data(date.today()))
                if index:
                    samples.append((step.kind, ms))
    reader.dispose()
    return samples
