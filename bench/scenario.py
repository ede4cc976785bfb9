"""The data_authorization conditional route, as W1, W2 and W4 drive it.

A request for MKT-003 (market supervision) and HR-001 (human resources), both conditionally
open, takes the joint-meeting route: the operator assigns the compliance reviewer and writes
the report, eight joint-meeting units sign off in parallel (five standing members, the two
source departments, the third-party body), the authority gives its evaluation opinion and the
operator signs the service agreement: twelve human tasks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import HumanTask, Organisation

PROCESS = "data_authorization"
REQUESTER = "partner_a"
# Joint-meeting sign-offs: demo user -> the unit (organisation code) it signs for.
SIGNERS = {
    "authority": "authority",
    "finance": "finance",
    "cyberspace": "cyberspace",
    "public_security": "public_security",
    "secrecy": "secrecy",
    "source_dept": "dept_market",
    "dept_hrss": "dept_hrss",
    "third_party": "third_party",
}
_agreement_numbers = itertools.count(1)


def request(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "business_scenario": "企业信用画像服务：为南山区金融机构提供企业经营状况评估。",
        "catalog_items": ["MKT-003", "HR-001"],
        "development_plan": "在运营平台内对企业登记与处罚信息进行清洗、关联，输出评分模型结果，原始数据不出域。",
        "purpose": "industry_development",
        "scope": "仅用于南山区涉企信用评估，不对外提供原始数据。",
    }
    data.update(overrides)
    return data


def review(decision: str = "approve", comment: str = "申请材料齐全，数据需求与场景匹配。") -> dict[str, Any]:
    return {"decision": decision, "comment": comment}


def report() -> dict[str, Any]:
    return {"findings": "业务场景合法，数据需求符合最小授权原则，安全措施完备。", "risk_level": "low",
            "conclusion": "compliant", "recommendations": "按季度报送使用情况。"}


def opinion() -> dict[str, Any]:
    return {"opinion": "经联席会议评估，同意授权。", "conditions": "仅在运营平台内使用，结果数据脱敏后输出。",
            "valid_scope": "企业行政处罚信息与社保汇总统计用于信用评估模型训练。"}


def agreement(today: Any) -> dict[str, Any]:
    number = f"NS-FW-BENCH-{next(_agreement_numbers):06d}"
    return {"agreement_no": number, "signed_on": today.isoformat(), "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=700)).isoformat(),
            "service_scope": "企业行政处罚信息、社保汇总统计的加工使用", "fee_terms": "按数据服务调用量计费。"}


def resubmit() -> dict[str, Any]:
    data = {k: v for k, v in request().items() if k != "catalog_items"}
    return {"action": "resubmit", "comment": "已按意见补充安全保障措施。", **data}


@dataclass(frozen=True)
class Step:
    """One human task of the route: who completes it, which element, for which unit."""

    username: str
    element: str
    unit: str | None  # the organisation code of a joint-meeting sign-off
    kind: str  # "sequential" or "parallel"

    def data(self, today: Any) -> dict[str, Any]:
        if self.element == "assign_compliance_reviewer":
            return {"reviewer": "operator"}
        if self.element == "compliance_review":
            return report()
        if self.element == "joint_signoff":
            return review("approve", f"{self.unit}：同意。")
        if self.element == "evaluation_opinion":
            return opinion()
        if self.element == "sign_service_agreement":
            return agreement(today)
        if self.element == "revise_request":
            return resubmit()
        return review()


def route() -> list[Step]:
    """The twelve steps in order (the sign-offs in a fixed order; any order is valid)."""
    return [
        Step("operator", "assign_compliance_reviewer", None, "sequential"),
        Step("operator", "compliance_review", None, "sequential"),
        *(Step(username, "joint_signoff", unit, "parallel") for username, unit in SIGNERS.items()),
        Step("authority", "evaluation_opinion", None, "sequential"),
        Step("operator", "sign_service_agreement", None, "sequential"),
    ]


def open_task_id(session: Session, instance_id: int, step: Step) -> str:
    """The id of the open task ``step`` of the instance (for a sign-off: the unit's one)."""
    query = select(HumanTask.id).where(HumanTask.instance_id == instance_id, HumanTask.spec_id == step.element,
                                       HumanTask.status == "open")
    if step.unit is not None:
        query = query.join(Organisation, Organisation.id == HumanTask.candidate_org_id).where(
            Organisation.code == step.unit)
    ids = list(session.execute(query).scalars())
    if len(ids) != 1:
        raise RuntimeError(f"expected one open {step.element} ({step.unit}) on instance {instance_id}, found {len(ids)}")
    return ids[0]
