"""Where things stand, for the authority and the operator: instances by process and status,
overdue tasks by unit, time per step, agreements and grants expiring soon, article coverage.

Every figure is one aggregate query (or one bounded read), never a workflow deserialisation.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import ForbiddenError
from app.models import Agreement, Grant, HumanTask, Organisation, ProcessInstance, User
from app.services import coverage, definitions
from app.services.clock import clock

VIEWER_ROLES = frozenset({"authority", "operator", "admin"})
EXPIRY_WINDOW = timedelta(days=183)  # the next 6 months
STEP_SAMPLE = 5000  # completed tasks read for the per-step medians (the most recent)


@dataclass(frozen=True)
class Count:
    label: str
    value: int
    key: str = ""
    detail: str = ""


@dataclass(frozen=True)
class StepTime:
    process_key: str
    element: str
    title: str
    median_hours: float
    p90_hours: float
    completed: int


@dataclass(frozen=True)
class Expiring:
    kind: str  # "agreement" | "grant"
    number: str
    organisation: str
    expires_on: str
    days_left: int


@dataclass
class Dashboard:
    generated_at: datetime
    by_process: dict[str, dict[str, int]] = field(default_factory=dict)  # process key -> status -> n
    process_names: dict[str, str] = field(default_factory=dict)
    overdue_by_unit: list[Count] = field(default_factory=list)
    open_tasks: int = 0
    overdue_tasks: int = 0
    step_times: list[StepTime] = field(default_factory=list)
    expiring: list[Expiring] = field(default_factory=list)
    articles_total: int = 0
    articles_covered: int = 0
    articles_missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "instances": [{"process_key": k, "name": self.process_names.get(k, k), "by_status": v,
                           "total": sum(v.values())} for k, v in self.by_process.items()],
            "tasks": {"open": self.open_tasks, "overdue": self.overdue_tasks,
                      "overdue_by_unit": [{"unit": c.label, "key": c.key, "overdue": c.value}
                                          for c in self.overdue_by_unit]},
            "step_times": [s.__dict__ for s in self.step_times],
            "expiring": [e.__dict__ for e in self.expiring],
            "articles": {"total": self.articles_total, "covered": self.articles_covered,
                         "missing": self.articles_missing},
        }


def check_viewer(user: User) -> None:
    if not user.roles & VIEWER_ROLES:
        raise ForbiddenError("the dashboard is for the authority, the operator and administrators")


def build(session: Session, user: User) -> Dashboard:
    """The dashboard as ``user`` (authority, operator or admin) sees it. Raises ForbiddenError."""
    check_viewer(user)
    now = clock.now()
    board = Dashboard(generated_at=now)
    board.process_names = {d.process_key: d.name for d in definitions.latest_all(session)}
    _instances(session, board)
    _tasks(session, board, now)
    _step_times(session, board)
    _expiring(session, board, now)
    _articles(session, board)
    return board


def _instances(session: Session, board: Dashboard) -> None:
    rows = session.execute(
        select(ProcessInstance.process_key, ProcessInstance.status, func.count())
        .group_by(ProcessInstance.process_key, ProcessInstance.status)
    ).all()
    by_process: dict[str, dict[str, int]] = defaultdict(dict)
    for key, status, n in rows:
        by_process[key][status] = n
    board.by_process = dict(sorted(by_process.items(), key=lambda kv: -sum(kv[1].values())))


def _tasks(session: Session, board: Dashboard, now: datetime) -> None:
    board.open_tasks = session.execute(
        select(func.count()).select_from(HumanTask).where(HumanTask.status == "open")).scalar_one()
    rows = session.execute(
        select(HumanTask.role, Organisation.code, Organisation.name, func.count())
        .outerjoin(Organisation, Organisation.id == HumanTask.candidate_org_id)
        .where(HumanTask.status == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < now)
        .group_by(HumanTask.role, Organisation.code, Organisation.name)
    ).all()
    counts = [Count(label=name or role, value=n, key=code or role, detail=role) for role, code, name, n in rows]
    board.overdue_by_unit = sorted(counts, key=lambda c: (-c.value, c.label))
    board.overdue_tasks = sum(c.value for c in counts)


def _step_times(session: Session, board: Dashboard) -> None:
    rows = session.execute(
        select(HumanTask.process_key, HumanTask.spec_id, HumanTask.title, HumanTask.created_at,
               HumanTask.completed_at)
        .where(HumanTask.status == "completed", HumanTask.completed_at.is_not(None))
        .order_by(HumanTask.completed_at.desc()).limit(STEP_SAMPLE)
    ).all()
    spans: dict[tuple[str, str], list[float]] = defaultdict(list)
    titles: dict[tuple[str, str], str] = {}
    for key, element, title, created, completed in rows:
        if completed is None:
            continue
        spans[(key, element)].append(max((completed - created).total_seconds(), 0) / 3600)
        titles[(key, element)] = title
    out = []
    for (key, element), hours in spans.items():
        hours.sort()
        p90 = hours[min(len(hours) - 1, int(len(hours) * 0.9))]
        out.append(StepTime(key, element, titles[(key, element)], round(statistics.median(hours), 2),
                            round(p90, 2), len(hours)))
    board.step_times = sorted(out, key=lambda s: (-s.median_hours, s.process_key, s.element))


def _expiring(session: Session, board: Dashboard, now: datetime) -> None:
    today, until = now.date(), (now + EXPIRY_WINDOW).date()
    agreements = session.execute(
        select(Agreement.kind, Agreement.number, Organisation.name, Agreement.valid_until)
        .join(Organisation, Organisation.id == Agreement.org_id)
        .where(Agreement.status == "active", Agreement.valid_until >= today, Agreement.valid_until <= until)
    ).all()
    grants = session.execute(
        select(Grant.number, Organisation.name, Grant.expires_at)
        .join(Organisation, Organisation.id == Grant.org_id)
        .where(Grant.revoked_at.is_(None), Grant.expires_at >= now, Grant.expires_at <= now + EXPIRY_WINDOW)
    ).all()
    items = [Expiring(f"{kind}_agreement", number, org, until_day.isoformat(), (until_day - today).days)
             for kind, number, org, until_day in agreements]
    items += [Expiring("grant", number, org, at.date().isoformat(), (at.date() - today).days)
              for number, org, at in grants]
    board.expiring = sorted(items, key=lambda e: (e.days_left, e.number))


def _articles(session: Session, board: Dashboard) -> None:
    rows = coverage.coverage(session)
    board.articles_total = len(rows)
    covered = [r for r in rows if r.steps or r.processes or r.rules]
    board.articles_covered = len(covered)
    board.articles_missing = [r.article for r in rows if r.prescribes_steps and not r.implemented]
