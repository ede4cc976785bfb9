"""Plain data the engine hands to the rest of the application (no SpiffWorkflow types leak)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Integer version of the stored instance-state format. Bump it and add a migration step in
# app.engine.serializer when the layout of the stored state changes.
STATE_VERSION = 1


@dataclass(frozen=True)
class TaskMeta:
    """What the host needs to know about one user task, read from BPMN extension properties.

    Properties (``spiffworkflow:property``) on a ``bpmn:userTask``:
    ``role`` (required), ``formKey`` (required), ``articles`` (comma separated, e.g.
    ``"Art. 18, Art. 20"``), ``due`` (ISO 8601 duration, e.g. ``P5D``), ``titleEn`` (the English
    title; ``title`` is then "中文 / English"), ``documentationEn`` (the English of the task's
    BPMN documentation, the guidance its page shows), ``bulkApprovable`` (``"true"``),
    ``roleExpression`` / ``orgExpression`` (restricted expressions evaluated per
    ready task, e.g. in a multi-instance sign-off).
    """

    spec_id: str
    title: str
    role: str | None
    form_key: str | None
    articles: tuple[str, ...] = ()
    due: str | None = None
    lane: str | None = None
    documentation: str | None = None
    documentation_en: str | None = None
    role_expression: str | None = None
    org_expression: str | None = None
    bulk_approvable: bool = False


@dataclass(frozen=True)
class ProcessInfo:
    """A parsed, linted, deployable process definition."""

    process_key: str
    name: str
    spec_json: str  # serialized spec + subprocess specs, stored once per definition version
    start_form_key: str | None  # start event property ``formKey``
    start_roles: tuple[str, ...]  # start event property ``startRoles`` (comma separated)
    articles: tuple[str, ...]  # process property ``articles``
    tasks: dict[str, TaskMeta] = field(default_factory=dict)  # user tasks by spec id


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for a person, as the host's inbox row is built from it."""

    id: str  # the engine task UUID, as a string
    spec_id: str
    title: str
    role: str | None  # the resolved role (roleExpression wins over role)
    org_hint: str | None  # the resolved orgExpression, if any
    form_key: str | None
    articles: tuple[str, ...]
    due: str | None
    lane: str | None
    instance_item: Any = None  # multi-instance: the input item of this child (e.g. a unit)
    data: dict[str, Any] = field(default_factory=dict)  # a copy of the task's data


@dataclass(frozen=True)
class StepRecord:
    """A task the engine finished during a run (for history display), not a user completion."""

    spec_id: str
    title: str
    kind: str  # e.g. "ServiceTask", "ScriptTask", "EndEvent", "BusinessRuleTask"


@dataclass(frozen=True)
class RunResult:
    """The outcome of starting, completing in, or polling timers of one instance."""

    state: dict[str, Any]  # JSON-serializable, spec stripped, finished history pruned
    state_version: int
    ready: list[ReadyTask]
    completed: bool
    data: dict[str, Any]  # the workflow's data (on completion: the final data)
    next_timer_at: datetime | None  # earliest pending timer, timezone-aware UTC
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class TaskMapping:
    """How one open task of an instance maps to another version of its process."""

    element: str  # BPMN element id in the instance's current version
    title: str
    state: str  # the engine state name: READY, WAITING (events, joins), STARTED (sub-processes)
    maps_to: str | None  # the element id in the new version; None when it cannot map
    reason: str | None = None  # why it cannot map


@dataclass(frozen=True)
class MigrationPreview:
    """Whether an instance can move to another version, and how its open tasks map."""

    can_migrate: bool
    reason: str | None  # every problem, as one sentence; None when it can migrate
    tasks: list[TaskMapping] = field(default_factory=list)
