"""Two simultaneous completions of one task: exactly one succeeds, the other gets 409."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, HumanTask
from tests import factories


def test_two_simultaneous_completions_one_wins(app, client, api):
    applicant, operator = api("applicant"), api("operator")
    iid = client.post("/api/v1/processes/partner_onboarding/instances",
                      json={"data": factories.application()}, headers=applicant).json["id"]
    tasks = client.get("/api/v1/tasks?per_page=100", headers=operator).json["items"]
    task_id = next(t["id"] for t in tasks if t["instance_id"] == iid and t["element"] == "review_qualifications")

    barrier = threading.Barrier(2)
    results: list[int] = []

    def worker(decision: str) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(f"/api/v1/tasks/{task_id}/complete", json={"data": factories.review(decision)}, headers=operator)
        results.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(d,)) for d in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [200, 409]

    with app.app_context():
        row = db.session.get(HumanTask, task_id)
        assert row.status == "completed"
        completions = db.session.execute(
            select(func.count(AuditEvent.id)).where(AuditEvent.task_id == task_id, AuditEvent.action == "task.completed")
        ).scalar_one()
        assert completions == 1
        body = client.get(f"/api/v1/instances/{iid}", headers=operator).json
        # the engine state moved exactly once: the sibling review is still open, nothing else
        assert {t["element"] for t in body["open_tasks"]} == {"admit_personnel"}
