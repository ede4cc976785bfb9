"""Reading GrantFlow's BPMN extension properties from parsed task specs."""

from __future__ import annotations

import re
from typing import Any

from app.engine.types import TaskMeta

# ISO 8601 duration: PnYnMnWnDTnHnMnS (at least one component; fractions only on seconds).
ISO_DURATION = re.compile(
    r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(?:[.,]\d+)?S)?)?$"
)


def split_list(value: str | None) -> tuple[str, ...]:
    """Split a comma separated property value (``"Art. 18, Art. 20"``) into trimmed items."""
    if not value:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())


def is_iso_duration(value: str) -> bool:
    """True when ``value`` is an ISO 8601 duration such as ``P5D`` or ``PT12H``."""
    return bool(ISO_DURATION.match(value.strip()))


def spec_properties(task_spec: Any) -> dict[str, str]:
    """Return the ``spiffworkflow:property`` values of a task spec (empty if it has none)."""
    extensions = getattr(task_spec, "extensions", None) or {}
    properties = extensions.get("properties") or {}
    return dict(properties)


def bilingual(name: str, english: str | None) -> str:
    """A step's title as the host stores it: "中文 / English" when the diagram gives an English
    title (``titleEn``), as process names are written; the UI shows the half for its locale."""
    english = (english or "").strip()
    return f"{name} / {english}" if english and " / " not in name else name


def task_meta(task_spec: Any) -> TaskMeta:
    """Build the TaskMeta of a user task spec from its properties, name, lane and documentation."""
    props = spec_properties(task_spec)
    bpmn_id = task_spec.bpmn_id or task_spec.name
    return TaskMeta(
        spec_id=bpmn_id,
        title=bilingual(task_spec.bpmn_name or bpmn_id, props.get("titleEn")),
        role=props.get("role") or None,
        form_key=props.get("formKey") or None,
        articles=split_list(props.get("articles")),
        due=props.get("due") or None,
        lane=getattr(task_spec, "lane", None),
        documentation=getattr(task_spec, "documentation", None),
        documentation_en=props.get("documentationEn") or None,
        role_expression=props.get("roleExpression") or None,
        org_expression=props.get("orgExpression") or None,
        bulk_approvable=props.get("bulkApprovable", "").strip().lower() == "true",
    )
