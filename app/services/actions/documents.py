"""Issuing the documents that make a decision binding, from the process data of the step that
decided it: the service task ``issue_document`` (param ``kind``) runs in the same transaction
as that step, so a failed render fails the step and nothing of it is stored.

Each kind has a builder that turns the instance's data (and the rows the earlier steps wrote:
agreements, joint-meeting tasks) into the template context, the organisation whose document
it is, and the articles it rests on. A service task may override the articles with the param
``articles`` (a list of "Art. N").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from app.errors import EngineError
from app.models import Agreement, HumanTask, LogRetention, Organisation
from app.services import documents
from app.services.actions.registry import ActionContext, action
from app.services.articles import article_number
from app.services.clock import clock
from app.services.documents.render import LOCAL_TZ

PURPOSES = {"public_governance": "公共治理", "public_welfare": "公益事业", "industry_development": "产业发展"}
REVIEWERS = {"operator": "授权运营单位合规审查团队", "third_party": "受托第三方机构"}
AUTHORITY_NAME = "南山区政务服务和数据管理局"


@dataclass
class Draft:
    """What a builder returns: the template context, whose document it is, and its articles."""

    context: dict[str, Any]
    org: Organisation
    articles: list[str]
    title: str | None = None
    facts: list[dict[str, Any]] = field(default_factory=list)


Builder = Callable[[ActionContext, dict[str, Any]], Draft | None]
BUILDERS: dict[str, Builder] = {}


def builder(kind: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[kind] = fn
        return fn
    return register


@action("issue_document")
def issue_document(ctx: ActionContext, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Render, sign and store the document ``kind`` for this instance. Returns its id, number,
    kind and verification code (the step's result variable), or ``{"skipped": reason}`` when
    the step has nothing to document (an onboarding with no agreement recorded)."""
    kind = str(params.get("kind") or "")
    build = BUILDERS.get(kind)
    if build is None:
        raise EngineError(f"issue_document: unknown document kind {kind!r}", "issue_document")
    if ctx.instance is None:
        raise EngineError("issue_document runs inside a process instance", "issue_document")
    draft = build(ctx, data)
    if draft is None:
        return {"kind": kind, "skipped": "nothing to document"}
    articles = params.get("articles") or draft.articles
    if draft.facts:
        draft.context["facts"] = draft.facts + list(draft.context.get("facts") or [])
    document = documents.generate(ctx.session, kind=kind, context=draft.context, instance=ctx.instance,
                                  org=draft.org, actor=ctx.actor, articles=list(articles), title=draft.title)
    return {"document_id": document.id, "number": document.number, "kind": kind,
            "verification_code": document.verification_code}


# --------------------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return _text(value)[:10]


def _today() -> str:
    return clock.now().astimezone(LOCAL_TZ).date().isoformat()


def _org_by_kind(ctx: ActionContext, kind: str) -> Organisation | None:
    return ctx.session.execute(
        select(Organisation).where(Organisation.kind == kind, Organisation.status == "active")
        .order_by(Organisation.id).limit(1)
    ).scalar_one_or_none()


def _org_by_code(ctx: ActionContext, code: Any) -> Organisation:
    return ctx.org({"org": code}) if code not in (None, "") else ctx.org({})


def _applicant_party(org: Organisation, role: str, application: dict[str, Any]) -> dict[str, Any]:
    return documents.party(org, role, representative=_text(application.get("legal_representative")),
                           address=_text(application.get("registered_address")),
                           contact=" ".join(filter(None, (_text(application.get("contact_name")),
                                                          _text(application.get("contact_phone"))))))


def _authority_name(ctx: ActionContext) -> str:
    authority = _org_by_kind(ctx, "authority")
    return authority.name if authority else AUTHORITY_NAME


def _authority_party(ctx: ActionContext, role: str) -> dict[str, Any]:
    authority = _org_by_kind(ctx, "authority")
    return documents.party(authority, role) if authority else {"role": role, "name": AUTHORITY_NAME}


def _operator_party(ctx: ActionContext, role: str) -> dict[str, Any] | None:
    operator = _org_by_kind(ctx, "operator")
    return documents.party(operator, role) if operator else None


def _agreement(ctx: ActionContext, kind: str, number: Any = None) -> Agreement | None:
    query = select(Agreement).where(Agreement.kind == kind)
    if number:
        query = query.where(Agreement.number == str(number))
    else:
        assert ctx.instance is not None
        query = query.where(Agreement.instance_id == ctx.instance.id)
    return ctx.session.execute(query.order_by(Agreement.id.desc()).limit(1)).scalar_one_or_none()


def _catalog_items(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: item[k] for k in ("code", "name", "classification", "grade") if item.get(k)}
            for item in data.get("catalog") or [] if isinstance(item, dict)]


def _subject(ctx: ActionContext, what: str) -> str:
    assert ctx.instance is not None
    return f"{what} {ctx.instance.business_key}" if ctx.instance.business_key else what


def _valid_articles(values: Any) -> list[str]:
    found = []
    for value in values or []:
        try:
            article_number(str(value))
        except ValueError:
            continue
        found.append(str(value))
    return found


def _document_number(data: dict[str, Any], key: str) -> str:
    result = data.get(key)
    return str(result.get("number") or "") if isinstance(result, dict) else ""


# --------------------------------------------------------------------------- agreements


def _agreement_context(agreement: Agreement) -> dict[str, Any]:
    return {"agreement_no": agreement.number, "signed_on": agreement.signed_on.isoformat(),
            "valid_from": agreement.valid_from.isoformat(), "valid_until": agreement.valid_until.isoformat()}


@builder("operation_agreement")
def _operation_agreement(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 14-16: the authority (甲方) and the operator (乙方), from the recorded agreement."""
    number = (data.get("operation_agreement") or {}).get("number")
    agreement = _agreement(ctx, "operation", number)
    if agreement is None:
        raise EngineError("no operation agreement is recorded for this instance", "issue_document")
    application = data.get("application") or {}
    operator = agreement.organisation
    staff = [{"name": _text(s.get("name")), "position": _text(s.get("position") or s.get("role"))}
             for s in ((data.get("staff_compliance") or {}).get("staff") or []) if isinstance(s, dict) and s.get("name")]
    record = data.get("sign_operation_agreement") or {}
    context = {
        "parties": [_authority_party(ctx, "甲方（区公共数据主管部门）"),
                    _applicant_party(operator, "乙方（授权运营单位）", application)],
        "subject": _subject(ctx, "公共数据授权运营"), **_agreement_context(agreement),
        "scope": agreement.scope or _text(record.get("scope")), "fee_terms": agreement.fee_terms,
        "notes": _text(record.get("comment")), "staff": staff,
    }
    return Draft(context, operator, ["Art. 13", "Art. 14", "Art. 15", "Art. 16"],
                 facts=[{"label": "授权运营申请编号", "value": ctx.instance.business_key if ctx.instance else ""}])


@builder("service_agreement")
def _service_agreement(ctx: ActionContext, data: dict[str, Any]) -> Draft | None:
    """The operator (甲方) and the partner (乙方): after a data authorization (Art. 20, 23) or
    an onboarding (Art. 18). None when the onboarding recorded no agreement."""
    assert ctx.instance is not None
    result = data.get("service_agreement") or {}
    number = result.get("number") or (data.get("activation") or {}).get("agreement")
    agreement = _agreement(ctx, "service", number)
    if agreement is None:
        if ctx.instance.process_key == "partner_onboarding":
            return None
        raise EngineError("no service agreement is recorded for this instance", "issue_document")
    partner = agreement.organisation
    application = data.get("application") or {}
    operator = ctx.session.get(Organisation, agreement.counterparty_org_id)
    parties = [documents.party(operator, "甲方（授权运营单位）") if operator else _operator_party(ctx, "甲方（授权运营单位）"),
               _applicant_party(partner, "乙方（授权合作方）", application)]
    context: dict[str, Any] = {
        "parties": [p for p in parties if p], **_agreement_context(agreement),
        "service_scope": agreement.scope, "fee_terms": agreement.fee_terms,
    }
    if ctx.instance.process_key == "data_authorization":
        context.update(
            subject=_subject(ctx, "公共数据资源授权申请"), request_no=ctx.instance.business_key,
            purpose=PURPOSES.get(_text(application.get("purpose")), _text(application.get("purpose"))),
            catalog_items=_catalog_items(data))
        facts = [{"label": "开放类别", "value": "有条件开放" if data.get("route") == "joint_meeting" else "无条件开放"},
                 {"label": "收费方式", "value": "有偿使用" if data.get("fee_regime") == "paid" else "无偿使用"}]
        opinion = _document_number(data, "evaluation_opinion_document")
        if opinion:
            facts.append({"label": "评估确认意见书", "value": opinion})
        review = data.get("operator_review") or {}
        if review.get("comment"):
            facts.append({"label": "授权审核意见", "value": _text(review["comment"])})
        return Draft(context, partner, ["Art. 19", "Art. 20", "Art. 23", "Art. 27"], facts=facts)
    context["subject"] = _subject(ctx, "授权合作方入驻")
    return Draft(context, partner, ["Art. 18", "Art. 27"],
                 facts=[{"label": "经营范围", "value": _text(application.get("business_scope"))}]
                 if application.get("business_scope") else [])


# --------------------------------------------------------------------------- data authorization


@builder("compliance_report")
def _compliance_report(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 8(6), 20: the compliance review of a conditional request, by the operator's team or
    the commissioned third party."""
    report = data.get("compliance_review") or {}
    if not report:
        raise EngineError("the compliance review has not been recorded", "issue_document")
    assert ctx.instance is not None
    applicant = ctx.org({})
    reviewer_kind = (data.get("assign_compliance_reviewer") or {}).get("reviewer", "operator")
    reviewer_org = _org_by_kind(ctx, "third_party" if reviewer_kind == "third_party" else "operator")
    parties = [documents.party(applicant, "申请单位")]
    if reviewer_org is not None:
        parties.append(documents.party(reviewer_org, f"审查机构（{REVIEWERS.get(reviewer_kind, reviewer_kind)}）"))
    application = data.get("application") or {}
    context = {
        "parties": parties, "issuer": reviewer_org.name if reviewer_org else None,
        "subject": _subject(ctx, "公共数据资源授权申请"), "request_no": ctx.instance.business_key,
        "request": {"business_scenario": _text(application.get("business_scenario")),
                    "purpose": PURPOSES.get(_text(application.get("purpose")), _text(application.get("purpose"))),
                    "scope": _text(application.get("scope")),
                    "development_plan": _text(application.get("development_plan"))},
        "catalog_items": _catalog_items(data), "findings": _text(report.get("findings")),
        "risk_level": report.get("risk_level"), "conclusion": report.get("conclusion"),
        "recommendations": _text(report.get("recommendations")),
        "reviewer": ctx.actor.display_name if ctx.actor else None,
    }
    return Draft({k: v for k, v in context.items() if v is not None}, applicant, ["Art. 8", "Art. 20"])


def _signoff_times(ctx: ActionContext) -> dict[int, datetime]:
    """When each joint-meeting unit last decided on this instance (by organisation id)."""
    assert ctx.instance is not None
    rows = ctx.session.execute(
        select(HumanTask.candidate_org_id, HumanTask.completed_at).where(
            HumanTask.instance_id == ctx.instance.id, HumanTask.spec_id == "joint_signoff",
            HumanTask.status == "completed").order_by(HumanTask.completed_at)
    ).all()
    return {org_id: at for org_id, at in rows if org_id is not None and at is not None}


@builder("evaluation_opinion")
def _evaluation_opinion(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 20: the joint meeting's evaluation-confirmation opinion, with every unit's decision."""
    opinion = data.get("evaluation_opinion") or {}
    if not opinion:
        raise EngineError("the evaluation-confirmation opinion has not been recorded", "issue_document")
    assert ctx.instance is not None
    applicant = ctx.org({})
    times = _signoff_times(ctx)
    signoffs = data.get("joint_signoffs") or []
    codes = {str(s.get("unit")) for s in signoffs if s.get("unit")}
    units = {o.code: o for o in ctx.session.execute(select(Organisation).where(Organisation.code.in_(codes))).scalars()}
    decisions = []
    for signoff in signoffs:
        unit = units.get(str(signoff.get("unit")))
        decided = times.get(unit.id) if unit else None
        decisions.append({"unit": unit.name if unit else _text(signoff.get("unit")),
                          "decision": signoff.get("decision"), "opinion": _text(signoff.get("comment")),
                          "decided_at": _iso(decided) if decided else None})
    parties = [documents.party(applicant, "申请单位"), _operator_party(ctx, "授权运营单位")]
    context = {
        "parties": [p for p in parties if p], "issuer": "南山区公共数据授权运营联席会议",
        "subject": _subject(ctx, "公共数据资源授权申请"), "request_no": ctx.instance.business_key,
        "opinion": _text(opinion.get("opinion")), "valid_scope": _text(opinion.get("valid_scope")),
        "conditions": _text(opinion.get("conditions")), "decisions": decisions,
        "catalog_items": _catalog_items(data), "result": data.get("joint_result"),
    }
    report = _document_number(data, "compliance_report_document")
    facts = [{"label": "合规审查报告", "value": report}] if report else []
    return Draft(context, applicant, ["Art. 20"], facts=facts)


# --------------------------------------------------------------------------- filings


@builder("filing_certificate")
def _filing_certificate(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 18 (onboarding, exit) and Art. 21 (products): the authority's or the operator's
    filing (备案登记) of a decided matter."""
    assert ctx.instance is not None
    key = ctx.instance.process_key
    application = data.get("application") or {}
    if key == "partner_onboarding":
        filing, org = data.get("file_onboarding") or {}, ctx.org({})
        matter = f"授权合作方入驻备案：{org.name}"
        agreement = (data.get("activation") or {}).get("agreement")
        articles, role = ["Art. 18"], "备案单位（授权合作方）"
        extra = {"agreement_no": agreement} if agreement else {}
    elif key == "product_review":
        filing, org = data.get("file_registration") or {}, ctx.org({})
        registration = (data.get("registration") or {}).get("registration_no")
        matter = f"数据产品和服务登记备案：{_text(application.get('product_name'))}"
        articles, role = ["Art. 21"], "登记单位（授权合作方）"
        extra = {"facts": [{"label": "登记编号", "value": registration}]} if registration else {}
    elif key == "partner_exit":
        filing, org = data.get("file_exit") or {}, ctx.org({})
        matter = f"授权合作方退出备案：{org.name}"
        articles, role = ["Art. 18", "Art. 16"], "备案单位（退出的授权合作方）"
        deactivation = data.get("deactivation") or {}
        extra = {"facts": [{"label": "退出原因", "value": _text((data.get("exit_case") or {}).get("reason"))},
                           {"label": "收回数据授权", "value": f"{deactivation.get('grants_revoked', 0)} 项"}]}
    else:
        raise EngineError(f"issue_document: no filing certificate is defined for {key}", "issue_document")
    context: dict[str, Any] = {
        "parties": [documents.party(org, role)], "issuer": _authority_name(ctx) if key != "product_review" else None,
        "subject": _subject(ctx, matter.split("：")[0]), "filing_no": _text(filing.get("filing_no")) or
        f"BA-{ctx.instance.business_key}", "filed_matter": matter, "filed_on": _today(),
        "comment": _text(filing.get("comment")), **extra,
    }
    if context["issuer"] is None:
        operator = _org_by_kind(ctx, "operator")
        context["issuer"] = operator.name if operator else _authority_name(ctx)
    return Draft(context, org, articles)


# --------------------------------------------------------------------------- supervision


@builder("rectification_order")
def _rectification_order(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 26(4), 27(3): the order to correct by a deadline, addressed to the target."""
    order = data.get("application") or {}
    target = _org_by_code(ctx, order.get("target_org"))
    issuer = _org_by_kind(ctx, "operator") if data.get("issuer_role") == "operator" else _org_by_kind(ctx, "authority")
    violated = _valid_articles(order.get("articles_violated"))
    context = {
        "parties": [documents.party(target, "整改单位")], "issuer": issuer.name if issuer else _authority_name(ctx),
        "subject": _text(order.get("title")) or _subject(ctx, "整改"), "matter": _text(order.get("title")),
        "findings": _text(order.get("findings")), "required_corrections": _text(order.get("required_corrections")),
        "deadline": _iso(order.get("deadline")), "articles_violated": violated,
        "report_to": issuer.name if issuer else _authority_name(ctx),
    }
    articles = ["Art. 26", "Art. 27"] + [a for a in violated if a not in ("Art. 26", "Art. 27")]
    return Draft(context, target, articles, title=f"整改通知书（{target.name}）")


@builder("termination_notice")
def _termination_notice(ctx: ActionContext, data: dict[str, Any]) -> Draft:
    """Art. 16 (and the basis chosen: Art. 6, 15, 26, ...): the operation agreement ends, every
    permission is closed at once, logs are kept at least 6 months."""
    assert ctx.instance is not None
    decision = data.get("application") or {}
    termination = data.get("termination") or {}
    agreement = _agreement(ctx, "operation", termination.get("number"))
    org = agreement.organisation if agreement else _org_by_code(ctx, data.get("operator_org"))
    retention = ctx.session.execute(
        select(LogRetention.retain_until).where(LogRetention.instance_id == ctx.instance.id)
        .order_by(LogRetention.retain_until.desc()).limit(1)
    ).scalar_one_or_none()
    legal_basis = _valid_articles(decision.get("legal_basis")) or ["Art. 16"]
    forced = bool(decision.get("forced"))
    context = {
        "parties": [documents.party(org, "授权运营单位")], "issuer": _authority_name(ctx),
        "subject": _subject(ctx, "授权运营协议终止"),
        "decision_no": _text(decision.get("decision_no")) or ctx.instance.business_key,
        "decision_date": _iso(decision.get("decision_date")) or _today(),
        "reason": _text(decision.get("reason")) or "授权运营协议期满未续期（第十五条、第十六条）",
        "legal_basis": legal_basis, "effective_on": _today(),
        "log_retention_until": _iso(retention) if retention else None,
        "facts": [{"label": "终止的协议", "value": agreement.number if agreement else "—"},
                  {"label": "关闭的数据授权", "value": f"{termination.get('grants_revoked', 0)} 项"},
                  {"label": "启动方式", "value": "系统按期启动" if forced else "主管部门决定"}],
    }
    articles = ["Art. 16"] + [a for a in legal_basis if a != "Art. 16"]
    return Draft({k: v for k, v in context.items() if v is not None}, org, articles)
