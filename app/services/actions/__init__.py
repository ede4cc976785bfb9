"""Host functions that workflows may call from service tasks.

A BPMN service task names one (``spiffworkflow:serviceTaskOperator id="issue_grant"``); its
parameters are expressions over the task data. Each runs inside the transaction of the step
that reached it: if it raises, nothing of the step is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from app.models import ProcessInstance, User
from app.services.actions import agreements, documents, followups, grants, partners, products  # noqa: F401 (registration)
from app.services.actions.registry import ACTIONS, ActionContext

ACTION_NAMES = tuple(sorted(ACTIONS))


def bind(session: Session, instance: ProcessInstance, actor: User | None) -> dict[str, Callable[[dict, dict], Any]]:
    """The actions, bound to one instance, its session and the acting user."""
    ctx = ActionContext(session, instance, actor)
    return {name: partial(fn, ctx) for name, fn in ACTIONS.items()}
