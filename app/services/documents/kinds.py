"""The seven kinds of document, their titles and the context keys each template needs."""

from __future__ import annotations

from dataclasses import dataclass

from app.models.documents import DOCUMENT_KINDS

# Every kind's context needs these (see reports/base.html).
COMMON_KEYS: tuple[str, ...] = ("parties",)


@dataclass(frozen=True)
class Kind:
    name: str
    title_zh: str
    title_en: str
    required: tuple[str, ...]  # context keys the kind's template needs besides COMMON_KEYS

    @property
    def template(self) -> str:
        return f"{self.name}.html"

    def title(self, locale: str = "zh") -> str:
        return self.title_en if locale.startswith("en") else self.title_zh


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("operation_agreement", "公共数据授权运营协议", "Public data authorized operation agreement",
             ("agreement_no", "signed_on", "valid_from", "valid_until", "scope")),
        Kind("service_agreement", "公共数据资源授权服务协议", "Public data service agreement",
             ("agreement_no", "signed_on", "valid_from", "valid_until", "service_scope")),
        Kind("compliance_report", "合规审查报告", "Compliance review report",
             ("findings", "risk_level", "conclusion")),
        Kind("evaluation_opinion", "评估确认意见", "Evaluation-confirmation opinion",
             ("opinion", "valid_scope", "decisions")),
        Kind("filing_certificate", "备案登记证明", "Filing certificate",
             ("filing_no", "filed_matter")),
        Kind("rectification_order", "整改通知书", "Rectification order",
             ("findings", "required_corrections", "deadline")),
        Kind("termination_notice", "终止授权运营通知书", "Termination notice",
             ("decision_no", "decision_date", "reason")),
    )
}

assert tuple(KINDS) == DOCUMENT_KINDS, "kinds and the model's DOCUMENT_KINDS must match"

# Labels for the enumerated values that process data carries into documents.
VALUE_LABELS: dict[str, dict[str, str]] = {
    "decision": {"approve": "通过", "reject": "不通过", "return": "退回补正"},
    "risk_level": {"low": "低", "medium": "中", "high": "高"},
    "conclusion": {"compliant": "合规", "compliant_with_conditions": "附条件合规", "non_compliant": "不合规"},
    "classification": {"unconditional": "无条件开放", "conditional": "有条件开放", "not_open": "不予开放"},
}
