"""GrantFlow's BPMN engine: SpiffWorkflow 3.2 behind a small, restricted, typed API.

Only this package imports SpiffWorkflow and RestrictedPython; callers get plain dataclasses
(:mod:`app.engine.types`) and domain errors (:mod:`app.errors`).

BPMN conventions (Spiff flavour, namespace ``http://spiffworkflow.org/bpmn/schema/1.0/core``):

* Properties: ``<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property
  name="role" value="reviewer"/>...`` on a ``bpmn:userTask`` (``role`` or ``roleExpression``,
  ``formKey``, ``articles``, ``due``, ``bulkApprovable``, ``orgExpression``), on the start
  event (``formKey``, ``startRoles``) and on ``bpmn:process`` (``articles``).
* Service tasks: ``<spiffworkflow:serviceTaskOperator id="activate_partner"
  resultVariable="x"><spiffworkflow:parameters><spiffworkflow:parameter id="org" type="str"
  value="applicant_org_id"/>...`` -- every ``value`` is a restricted expression; the host's
  ``actions["activate_partner"](params, task_data)`` result is stored in ``x``.
* Multi-instance: ``bpmn:multiInstanceLoopCharacteristics`` with ``loopDataInputRef``,
  ``inputDataItem`` (becomes ``ReadyTask.instance_item``), optional ``loopDataOutputRef`` /
  ``outputDataItem``.
* Every condition, script, timer value and DMN cell is restricted Python; timer values are
  expressions, so ISO values are quoted: ``<bpmn:timeDuration>"P5D"</bpmn:timeDuration>``.
"""

from app.engine.migration import migrate_instance, preview_migration
from app.engine.parser import compile_definition
from app.engine.runtime import complete_task, evaluate, fire_timers, start_instance
from app.engine.sandbox import check_expression
from app.engine.types import (
    STATE_VERSION,
    MigrationPreview,
    ProcessInfo,
    ReadyTask,
    RunResult,
    StepRecord,
    TaskMapping,
    TaskMeta,
)

__all__ = [
    "STATE_VERSION",
    "MigrationPreview",
    "ProcessInfo",
    "ReadyTask",
    "RunResult",
    "StepRecord",
    "TaskMapping",
    "TaskMeta",
    "check_expression",
    "compile_definition",
    "complete_task",
    "evaluate",
    "fire_timers",
    "migrate_instance",
    "preview_migration",
    "start_instance",
]
