"""Small helpers for driving processes through the service layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import HumanTask, Organisation, ProcessInstance, User
from app.services import tasks


def user(session: Session, username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()


def org(session: Session, code: str) -> Organisation:
    return session.execute(select(Organisation).where(Organisation.code == code)).scalar_one()


def open_task(session: Session, username: str, element: str, instance: ProcessInstance) -> HumanTask:
    """The open task ``element`` of ``instance`` as it appears in ``username``'s inbox."""
    page = tasks.inbox(session, user(session, username), per_page=100)
    found = [t for t in page.items if t.spec_id == element and t.instance_id == instance.id]
    assert found, f"{username} has no open {element}; inbox: {[(t.spec_id, t.instance_id) for t in page.items]}"
    return found[0]


def complete(session: Session, username: str, element: str, instance: ProcessInstance, data: dict[str, Any]) -> None:
    task = open_task(session, username, element, instance)
    tasks.complete(session, user(session, username), task.id, data)
    session.commit()


def open_elements(session: Session, instance: ProcessInstance) -> set[str]:
    return set(
        session.execute(
            select(HumanTask.spec_id).where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        ).scalars()
    )
