"""Starting a follow-up process from a step (e.g. a missed rectification terminates, Art. 27(3))."""

from __future__ import annotations

from typing import Any

from app.errors import EngineError
from app.services.actions.registry import ActionContext, action

FOLLOWUPS = ("partner_exit", "agreement_termination")


@action("start_followup")
def start_followup(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Start ``process_key`` (partner_exit or agreement_termination) for ``org`` as the system,
    with ``reason``; the new instance belongs to that organisation."""
    from app.services import processes

    key = params.get("process_key")
    if key not in FOLLOWUPS:
        raise EngineError(f"start_followup cannot start {key!r}", "start_followup")
    org = ctx.org(params)
    started = processes.start_system(ctx.session, str(key), org, {
        "reason": str(params.get("reason") or ""), "source": ctx.instance.business_key if ctx.instance else "", "forced": True,
    })
    return {"business_key": started.business_key, "instance_id": started.id}
