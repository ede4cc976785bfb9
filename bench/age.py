"""W4 (preview): does a completion get slower as an instance ages?

Drives partner onboarding through the service layer on a fresh SQLite database: each round
is reject → resubmit (three completions). Compares the median completion time and the stored
state size of the first rounds with those after many rounds.

    .venv/bin/python -m bench.age [rounds]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, ProcessInstance
from app.services import processes, tasks
from tests import factories
from tests.conftest import build_database, make_test_app
from tests.helpers import user


def _complete(username, element, instance_id, data) -> float:  # type: ignore[no-untyped-def]
    """One completion in a session of its own, as one request does."""
    session = db.new_session()
    task_id = session.execute(select(HumanTask.id).where(
        HumanTask.instance_id == instance_id, HumanTask.spec_id == element, HumanTask.status == "open")).scalar_one()
    started = time.perf_counter()
    tasks.complete(session, user(session, username), task_id, data)
    session.commit()
    elapsed = (time.perf_counter() - started) * 1000
    session.close()
    return elapsed


def main(rounds: int = 200) -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'bench.db'}"
    build_database(url, folder)
    app = make_test_app(url, folder)
    with app.app_context():
        session = db.session
        instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
        session.commit()
        iid = instance.id
        session.close()
        per_round, sizes = [], []
        for _ in range(rounds):
            times = [
                _complete("operator", "review_qualifications", iid, factories.review("reject", "补充材料")),
                _complete("operator", "admit_personnel", iid, factories.review()),
                _complete("applicant", "revise_application", iid, factories.resubmit()),
            ]
            per_round.append(statistics.median(times))
            reader = db.new_session()
            state = reader.execute(select(ProcessInstance.state).where(ProcessInstance.id == iid)).scalar_one()
            reader.close()
            sizes.append(len(json.dumps(state)))
    first, last = per_round[:10], per_round[-10:]
    print(f"rounds: {rounds} ({rounds * 3} completions through the service layer, SQLite)")
    print(f"completion median, rounds 1-10:   {statistics.median(first):.2f} ms; state {sizes[9]} bytes")
    print(f"completion median, last 10 rounds: {statistics.median(last):.2f} ms; state {sizes[-1]} bytes")
    print(f"ratio aged/fresh: {statistics.median(last) / statistics.median(first):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
