"""The registry behind service tasks: named host functions a workflow may call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import EngineError
from app.models import Organisation, ProcessInstance, User


@dataclass(frozen=True)
class ActionContext:
    """What an action may use: the step's session (one transaction), instance and actor."""

    session: Session
    instance: ProcessInstance | None  # None when the calendar acts outside any process
    actor: User | None

    @property
    def instance_id(self) -> int | None:
        return self.instance.id if self.instance is not None else None

    def org(self, params: dict[str, Any], name: str = "org") -> Organisation:
        """The organisation named by ``params[name]`` (an organisation code or id), or the
        instance's own. Raises EngineError when it does not exist."""
        ref = params.get(name)
        if ref in (None, ""):
            org_id = self.instance.org_id if self.instance is not None else None
            org = self.session.get(Organisation, org_id) if org_id else None
        elif isinstance(ref, int):
            org = self.session.get(Organisation, ref)
        else:
            org = self.session.execute(select(Organisation).where(Organisation.code == str(ref))).scalar_one_or_none()
        if org is None:
            raise EngineError(f"unknown organisation {ref!r}")
        return org


ActionFn = Callable[[ActionContext, dict[str, Any], dict[str, Any]], Any]
ACTIONS: dict[str, ActionFn] = {}


def action(name: str) -> Callable[[ActionFn], ActionFn]:
    """Register ``fn(ctx, params, data)`` as the service-task operator ``name``."""

    def register(fn: ActionFn) -> ActionFn:
        if name in ACTIONS:
            raise RuntimeError(f"action {name!r} registered twice")
        ACTIONS[name] = fn
        return fn

    return register


def as_date(value: Any, field: str) -> date:
    """A date from a date or an ISO string. Raises EngineError naming the parameter."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise EngineError(f"parameter {field!r} is not a date: {value!r}") from None
