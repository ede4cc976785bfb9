"""W4 age: does a completion get slower as an instance accumulates history?

A data request on the operator-review route is returned and resubmitted over and over
(operator_review "return", revise_request "resubmit": two completions a round). HTTP
completions (gunicorn, one sync worker, SQLite) are timed on fresh instances (their first
completions) and on one instance once it has 200 and 1,000 completed steps; the instance
is aged through the service layer between the measurements.

Beside it, the bare engine at the same age (:mod:`bench.bare`): SpiffWorkflow alone, the
loop run in memory to that age, then timed loading, completing and saving its whole state.
It keeps every finished task, so its state and time grow, and past depth 1,000 its task
iterator stops (ENGINE-NOTES §8): that is reported as the age where it stopped.

Reported beside the HTTP times: the service-layer time of the aging completions, the stored
state's size and the size of the completion's HTTP response.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import bare, nulldocs, scenario
from bench.common import Check, Result, Workspace, app_context, ratio, summary, timed
from bench.server import Client, Server, token

AGES = (200, 1000)
MEASURED = 20  # HTTP completions timed at each age
FRESH_INSTANCES = 6  # their first 4 completions are the fresh sample (the first instance warms up)
BARE_REPEATS = 5
UNCONDITIONAL = {"catalog_items": ["MKT-001", "MKT-002"], "purpose": "public_governance"}
RETURN = scenario.Step("operator", "operator_review", None, "sequential")
RESUBMIT = scenario.Step(scenario.REQUESTER, "revise_request", None, "sequential")
TARGET = ("at 200 and at 1,000 completed steps, HTTP completion median <= 1.5x a fresh instance's "
          "and <= 20 ms; the bare engine's whole-state load-complete-save beside it")


def _data(step: scenario.Step) -> dict[str, Any]:
    return scenario.review("return", "请细化使用范围。") if step is RETURN else scenario.resubmit()


def run(ws: Workspace) -> Result:
    from app.extensions import make_engine

    result = Result("W4", "age (200 / 1,000 completed steps)", TARGET)
    url, folder = ws.sqlite("w4")
    reader = make_engine(url)
    figures: dict[str, Any] = {"database": "sqlite", "loop": "operator_review return -> revise_request resubmit"}
    with Server(url, folder, workers=1) as server, app_context(url, folder), nulldocs.installed():
        tokens = {name: token(server.port, name) for name in ("operator", scenario.REQUESTER)}

        response_bytes: list[int] = []

        def http_complete(instance_id: int, step: scenario.Step) -> float:
            with Session(reader) as session:
                task_id = scenario.open_task_id(session, instance_id, step)
            client = Client(server.port, tokens[step.username])
            ms = client.complete(task_id, _data(step))
            response_bytes.append(client.last_bytes)
            return ms

        fresh: list[float] = []
        for index in range(FRESH_INSTANCES):
            instance_id = _start_http(server.port, tokens[scenario.REQUESTER])
            times = [http_complete(instance_id, step) for step in (RETURN, RESUBMIT, RETURN, RESUBMIT)]
            if index:
                fresh += times
        figures["fresh"] = {"http": summary(fresh), "response_bytes": response_bytes[-1]}
        aged_id = _start_http(server.port, tokens[scenario.REQUESTER])
        start_state = _state(aged_id)
        done = 0
        for age in AGES:
            building = _age_through_service(aged_id, done, age)
            done = age
            times = []
            for n in range(MEASURED):
                times.append(http_complete(aged_id, RETURN if (done + n) % 2 == 0 else RESUBMIT))
            done += MEASURED
            state = _state(aged_id)
            figures[str(age)] = {"http": summary(times), "service_layer_while_aging": summary(building[-40:]),
                                 "state_bytes": len(json.dumps(state[0])), "response_bytes": response_bytes[-1]}
    reader.dispose()
    figures["bare_engine"] = _bare(start_state)
    result.figures = figures
    fresh_median = figures["fresh"]["http"]["median_ms"]
    parts = [f"fresh {fresh_median} ms"]
    for age in AGES:
        median = figures[str(age)]["http"]["median_ms"]
        factor = ratio(median, fresh_median)
        result.checks += [Check(f"HTTP median at {age} / fresh", factor, 1.5),
                          Check(f"HTTP median ms at {age}", median, 20.0)]
        floor = figures["bare_engine"][str(age)]
        floor_text = f"{floor['median_ms']} ms" if "median_ms" in floor else floor["stopped"]
        parts.append(f"{age}: {median} ms (x{factor}; bare engine {floor_text})")
    result.floor = {"bare_engine": figures["bare_engine"]}
    result.ratio = ratio(figures[str(AGES[-1])]["http"]["median_ms"], fresh_median)
    result.figure = "HTTP median " + "; ".join(parts)
    return result


def _start_http(port: int, requester_token: str) -> int:
    status, body = Client(port, requester_token).request(
        "POST", f"/api/v1/processes/{scenario.PROCESS}/instances", {"data": scenario.request(**UNCONDITIONAL)})
    if status != 201:
        raise RuntimeError(f"start failed: {status} {body}")
    return int(body["id"])


def _state(instance_id: int) -> tuple[dict[str, Any], str]:
    from app.extensions import db
    from app.models import ProcessInstance

    with db.new_session() as session:
        row = session.get(ProcessInstance, instance_id)
        assert row is not None
        return row.state, row.definition.spec_json


def _age_through_service(instance_id: int, done: int, age: int) -> list[float]:
    """Complete steps ``done`` .. ``age`` through the service layer; their timings."""
    from app.extensions import db
    from app.models import User
    from app.services import tasks

    times = []
    for n in range(done, age):
        step = RETURN if n % 2 == 0 else RESUBMIT
        with db.new_session() as session:
            task_id = scenario.open_task_id(session, instance_id, step)
            actor = session.execute(select(User).where(User.username == step.username)).scalar_one()
            data = _data(step)
            ms, _ = timed(lambda s=session, a=actor, t=task_id, d=data: (tasks.complete(s, a, t, d), s.commit()))
            times.append(ms)
    return times


def _bare(start: tuple[dict[str, Any], str]) -> dict[str, Any]:
    """The bare engine aged in memory; at each age, load-complete-save timed from its state."""
    out: dict[str, Any] = {}
    workflow = bare.load(bare.whole_state(*start))
    done = 0
    for age in AGES:
        while done < age:
            step = RETURN if done % 2 == 0 else RESUBMIT
            task = bare.ready_task(workflow, step.element)
            if task is None:
                break
            bare.complete(workflow, task, step.element, _data(step))
            done += 1
        if done < age:
            out[str(age)] = {"stopped": f"stops after {done} completed steps (no READY task visible: depth limit)"}
            continue
        serialized = bare.SERIALIZER.serialize_json(workflow)
        step = RETURN if done % 2 == 0 else RESUBMIT
        times = []
        for _ in range(BARE_REPEATS):
            loaded = bare.load(serialized)
            task = bare.ready_task(loaded, step.element)
            ms, _out = bare.step(serialized, str(task.id), step.element, _data(step))
            times.append(ms)
        out[str(age)] = {"median_ms": round(statistics.median(times), 2), "state_bytes": len(serialized),
                         "n": len(times)}
    fresh = bare.whole_state(*start)
    task = bare.ready_task(bare.load(fresh), RETURN.element)
    samples = [bare.step(fresh, str(task.id), RETURN.element, _data(RETURN))[0] for _ in range(BARE_REPEATS)]
    out["fresh"] = {"median_ms": round(statistics.median(samples), 2), "state_bytes": len(fresh), "n": len(samples)}
    return out
