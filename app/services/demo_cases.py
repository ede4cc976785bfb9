"""Demo cases, so that a new demo shows work in every inbox and documents to download.

Driven through the service layer exactly as the users would, one transaction per step:

* partner_a's request for conditionally open data (enterprise penalties, social-security
  aggregates), decided: compliance report, eight sign-offs, evaluation opinion, service
  agreement and grant, with their signed PDFs;
* partner_b's request for housing transaction aggregates at the joint meeting: three units
  have signed off, the others have it in their inbox;
* partner_a's request for unconditionally open data, waiting for the operator's review;
* the applicant's onboarding application, waiting for the qualification review.

Seeded once, into a database without cases (``flask seed-demo --cases``), which commits each
step.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import HumanTask, ProcessInstance, User
from app.services import processes, tasks
from app.services.clock import clock

REQUEST_DECIDED = {
    "business_scenario": "企业信用画像服务：为南山区金融机构评估中小企业经营状况，支持普惠信贷。",
    "catalog_items": ["MKT-003", "HR-001"],
    "development_plan": "在运营平台隔离环境内关联企业处罚与社保汇总数据，训练信用评分模型，仅输出评分结果，原始数据不出域。",
    "purpose": "industry_development",
    "scope": "仅用于南山区普惠金融信用评估，不向第三方提供原始数据。",
}
REQUEST_AT_JOINT_MEETING = {
    "business_scenario": "住房租赁市场监测：按片区统计商品房网签交易，辅助保障性住房选址。",
    "catalog_items": ["HSG-001"],
    "development_plan": "在运营平台内按月汇总网签交易，生成片区热力指标，结果经脱敏审核后输出。",
    "purpose": "public_governance",
    "scope": "仅用于南山区住房保障规划研究。",
}
REQUEST_OPEN_DATA = {
    "business_scenario": "企业服务地图：为园区招商提供企业登记与营业执照信息查询。",
    "catalog_items": ["MKT-001", "MKT-002"],
    "development_plan": "通过运营平台接口按需调用，结果仅在招商服务系统内展示。",
    "purpose": "public_welfare",
    "scope": "南山区园区招商服务。",
}
APPLICATION = {
    "company_name": "深圳南山新锐数据科技有限公司",
    "unified_social_credit_code": "91440300MA5G8XY12K",
    "legal_representative": "孙立新",
    "registered_address": "深圳市南山区粤海街道科技园科苑路15号",
    "business_scope": "数据处理和存储支持服务；软件开发；信息技术咨询服务。",
    "contact_name": "孙立新",
    "contact_phone": "13800138000",
    "contact_email": "sun@xinrui-data.example.cn",
    "qualifications": ["data_security_policy", "mlps_level3_filing"],
    "personnel": [{"name": "李明", "position": "数据工程师", "responsibility": "数据加工"},
                  {"name": "王芳", "position": "安全负责人", "responsibility": "数据安全管理"}],
}
# Who signs off for which unit in the decided request (demo user -> the unit's code).
SIGNERS = {"authority": "authority", "finance": "finance", "cyberspace": "cyberspace",
           "public_security": "public_security", "secrecy": "secrecy", "source_dept": "dept_market",
           "dept_hrss": "dept_hrss", "third_party": "third_party"}
EARLY_SIGNERS = ("authority", "finance", "cyberspace")  # of the request still at the joint meeting


def case_count(session: Session) -> int:
    """How many cases the database has (the demo cases go only into one without)."""
    return int(session.execute(select(func.count(ProcessInstance.id))).scalar_one())


def seed_steps(session: Session) -> Iterator[str]:
    """Start and advance the demo cases, one step at a time: after each step it yields what
    it did, and the caller commits it (one transaction per step, as the users' own)."""
    decided = yield from _start(session, "partner_a", "data_authorization", REQUEST_DECIDED)
    yield from _through_joint_meeting(session, decided, SIGNERS)
    today = clock.now().date()
    yield from _complete(session, "authority", decided, "evaluation_opinion", {
        "opinion": "经联席会议评估，同意授权。", "conditions": "仅在运营平台内使用，评分结果脱敏后输出。",
        "valid_scope": "企业行政处罚信息与社保汇总统计用于信用评分模型。"})
    yield from _complete(session, "operator", decided, "sign_service_agreement", {
        "agreement_no": f"NS-FW-{today.year}-DEMO1", "signed_on": today.isoformat(), "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=730)).isoformat(),
        "service_scope": "企业行政处罚信息、社保汇总统计的加工使用", "fee_terms": "按数据服务调用量计费。"})
    pending = yield from _start(session, "partner_b", "data_authorization", REQUEST_AT_JOINT_MEETING)
    yield from _through_joint_meeting(session, pending, {u: SIGNERS[u] for u in EARLY_SIGNERS})
    yield from _start(session, "partner_a", "data_authorization", REQUEST_OPEN_DATA)
    yield from _start(session, "applicant", "partner_onboarding", APPLICATION)


def _through_joint_meeting(session: Session, instance_id: int, signers: dict[str, str]) -> Iterator[str]:
    yield from _complete(session, "operator", instance_id, "assign_compliance_reviewer",
                         {"reviewer": "operator", "comment": "由运营单位合规团队审查。"})
    yield from _complete(session, "operator", instance_id, "compliance_review", {
        "findings": "业务场景合法，数据需求符合最小必要原则，平台内加工、结果脱敏输出的安全措施完备。",
        "risk_level": "low", "conclusion": "compliant", "recommendations": "按季度报送数据使用情况。"})
    for username in signers:
        yield from _complete(session, username, instance_id, "joint_signoff", {"decision": "approve", "comment": "同意。"})


def _start(session: Session, username: str, process_key: str, data: dict[str, Any]) -> Generator[str, None, int]:
    instance = processes.start(session, _user(session, username), process_key, dict(data))
    yield f"{username} started {instance.business_key}"
    return instance.id


def _complete(session: Session, username: str, instance_id: int, element: str,
              data: dict[str, Any]) -> Iterator[str]:
    """Complete the open task ``element`` of the instance that ``username`` may do (for a
    sign-off: the one of the unit the user signs for)."""
    user = _user(session, username)
    for task in session.execute(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.spec_id == element, HumanTask.status == "open")).scalars():
        if element != "joint_signoff" or (task.candidate_org and task.candidate_org.code == SIGNERS[username]):
            tasks.complete(session, user, task.id, data)
            yield f"{username} completed {element} of case {instance_id}"
            return
    raise LookupError(f"no open {element} for {username} in case {instance_id}")


def _user(session: Session, username: str) -> User:
    return session.execute(select(User).where(User.username == username)).scalar_one()
