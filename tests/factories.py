"""Valid (and deliberately invalid) form data for the demo processes."""

from __future__ import annotations

import copy
from typing import Any

from app.services import demo_cases


def application(**overrides: Any) -> dict[str, Any]:
    """The demo applicant's onboarding application (the one the demo cases file), changed by
    ``overrides``."""
    data: dict[str, Any] = copy.deepcopy(demo_cases.APPLICATION)
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "材料齐全，符合要求。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def agreement(number: str = "NS-FW-2026-101", **overrides: Any) -> dict[str, Any]:
    data = {"agreement_no": number, "signed_on": "2026-11-20", "valid_from": "2026-11-20",
            "valid_until": "2029-11-19", "service_scope": "公共数据产品开发与服务"}
    data.update(overrides)
    return data


def filing(decision: str = "approve") -> dict[str, Any]:
    data = {"decision": decision, "comment": "已备案。" if decision == "approve" else "协议期限填写有误，请更正。"}
    if decision == "approve":
        data["filing_no"] = "NS-BA-2026-0007"
    return data


def resubmit(**overrides: Any) -> dict[str, Any]:
    return {"action": "resubmit", "comment": "已按要求补充材料。", **application(**overrides)}


def withdraw() -> dict[str, Any]:
    return {"action": "withdraw", "comment": "暂不申请入驻。"}
