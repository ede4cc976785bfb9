"""Valid (and deliberately invalid) form data for the demo processes."""

from __future__ import annotations

from typing import Any


def application(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "company_name": "深圳南山新锐数据科技有限公司",
        "unified_social_credit_code": "91440300MA5G8XY12K",
        "legal_representative": "孙立新",
        "registered_address": "深圳市南山区粤海街道科技园科苑路15号",
        "business_scope": "数据处理和存储支持服务；软件开发；信息技术咨询服务。",
        "contact_name": "孙立新",
        "contact_phone": "13800138000",
        "contact_email": "sun@xinrui-data.example.cn",
        "qualifications": ["data_security_policy", "mlps_level3_filing"],
        "personnel": [
            {"name": "李明", "position": "数据工程师", "responsibility": "数据加工"},
            {"name": "王芳", "position": "安全负责人", "responsibility": "数据安全管理"},
        ],
    }
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
