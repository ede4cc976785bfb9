"""Demo organisations, users (password ``demo``), catalogue and agreements. Idempotent."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Agreement, CatalogItem, Organisation, RoleMembership, User
from app.services import audit
from app.services.accounts import hash_password
from app.services.clock import clock

DEMO_PASSWORD = "demo"  # noqa: S105 - documented demo credential, seeded only in demo mode

# code, name, English name, kind, status
ORGANISATIONS = [
    ("platform", "GrantFlow 平台运维组", "GrantFlow platform team", "platform", "active"),
    ("authority", "深圳市南山区政务服务和数据管理局", "Nanshan District Government Services and Data Administration", "authority", "active"),
    ("taskforce", "南山区公共数据授权运营工作专班", "Nanshan public data authorized operation task force", "taskforce", "active"),
    ("government", "深圳市南山区人民政府", "Nanshan District People's Government", "government", "active"),
    ("operator", "深圳市南山数据运营有限公司", "Shenzhen Nanshan Data Operation Co., Ltd.", "operator", "active"),
    ("partner_a", "深圳前海智数科技有限公司", "Shenzhen Qianhai Zhishu Technology Co., Ltd.", "partner", "active"),
    ("partner_b", "深圳湾区数联信息技术有限公司", "Shenzhen Bay Area Shulian IT Co., Ltd.", "partner", "active"),
    ("applicant", "深圳南山新锐数据科技有限公司", "Shenzhen Nanshan Xinrui Data Technology Co., Ltd.", "partner", "pending"),
    ("candidate", "深圳南山数智运营集团有限公司", "Shenzhen Nanshan Shuzhi Operation Group Co., Ltd.", "partner", "pending"),
    ("dept_market", "深圳市市场监督管理局南山监管局", "Nanshan Market Supervision Bureau", "department", "active"),
    ("dept_hrss", "南山区人力资源局", "Nanshan Human Resources Bureau", "department", "active"),
    ("dept_housing", "南山区住房和建设局", "Nanshan Housing and Construction Bureau", "department", "active"),
    ("dept_transport", "深圳市交通运输局南山管理局", "Nanshan Transport Bureau", "department", "active"),
    ("dept_urban", "南山区城市管理和综合执法局", "Nanshan Urban Management Bureau", "department", "active"),
    ("finance", "南山区财政局", "Nanshan Finance Bureau", "department", "active"),
    ("cyberspace", "中共深圳市南山区委网络安全和信息化委员会办公室", "Nanshan Cyberspace Affairs Office", "department", "active"),
    ("public_security", "深圳市公安局南山分局", "Nanshan Public Security Sub-bureau", "department", "active"),
    ("secrecy", "南山区国家保密局", "Nanshan State Secrecy Bureau", "department", "active"),
    ("third_party", "深圳数安合规评估中心", "Shenzhen Data Security Compliance Assessment Centre", "third_party", "active"),
]

# username, display name, organisation code, roles
USERS = [
    ("admin", "平台管理员", "platform", ["admin"]),
    ("authority", "王主任（数据局）", "authority", ["authority", "joint_meeting"]),
    ("taskforce", "李专员（工作专班）", "taskforce", ["taskforce"]),
    ("government", "陈科长（区政府）", "government", ["government"]),
    ("operator", "张经理（运营单位）", "operator", ["operator"]),
    ("partner_a", "赵工（前海智数）", "partner_a", ["partner"]),
    ("partner_b", "钱工（湾区数联）", "partner_b", ["partner"]),
    ("applicant", "孙总（新锐数据）", "applicant", ["partner"]),
    ("candidate", "何总（数智运营，运营单位申请人）", "candidate", ["partner"]),
    ("source_dept", "周科长（数源部门）", "dept_market", ["source_dept", "joint_meeting"]),
    ("dept_hrss", "黄科长（人力资源局）", "dept_hrss", ["source_dept", "joint_meeting"]),
    ("dept_transport", "林科长（交通运输局）", "dept_transport", ["source_dept", "joint_meeting"]),
    ("finance", "吴科长（财政局）", "finance", ["joint_meeting"]),
    ("cyberspace", "郑科长（网信办）", "cyberspace", ["joint_meeting"]),
    ("public_security", "冯警官（公安分局）", "public_security", ["joint_meeting"]),
    ("secrecy", "褚科长（保密局）", "secrecy", ["joint_meeting"]),
    ("third_party", "卫评估师（第三方机构）", "third_party", ["third_party", "joint_meeting"]),
    ("doc_officer", "蒋文书（数据局）", "authority", ["document_officer"]),
]

# code, name, English name, classification, grade, source organisation
CATALOG = [
    ("MKT-001", "企业登记注册信息", "Enterprise registration records", "unconditional", "L1", "dept_market"),
    ("MKT-002", "营业执照信息", "Business licences", "unconditional", "L1", "dept_market"),
    ("MKT-003", "企业行政处罚信息", "Administrative penalties on enterprises", "conditional", "L2", "dept_market"),
    ("HR-001", "社保缴纳汇总统计（按行业）", "Social-security contribution aggregates by industry", "conditional", "L2", "dept_hrss"),
    ("HR-002", "个人社保缴纳明细", "Individual social-security contributions", "not_open", "L4", "dept_hrss"),
    ("HR-003", "职业技能培训机构名录", "Vocational training providers", "unconditional", "L1", "dept_hrss"),
    ("HSG-001", "商品房网签交易汇总", "Real-estate transaction aggregates", "conditional", "L2", "dept_housing"),
    ("HSG-002", "建设工程项目信息", "Construction projects", "unconditional", "L1", "dept_housing"),
    ("HSG-003", "不动产权利人信息", "Real-estate owners", "not_open", "L4", "dept_housing"),
    ("TRF-001", "主干道路交通流量（小时）", "Hourly traffic flow on arterial roads", "conditional", "L2", "dept_transport"),
    ("TRF-002", "公交站点与线路", "Bus stops and routes", "unconditional", "L1", "dept_transport"),
    ("TRF-003", "停车场泊位实时数据", "Real-time parking availability", "conditional", "L2", "dept_transport"),
    ("URB-001", "公共设施点位（公厕、驿站）", "Public facility locations", "unconditional", "L1", "dept_urban"),
    ("URB-002", "城市管理案件统计", "Urban management case statistics", "conditional", "L2", "dept_urban"),
]


# The demo `source_dept` user acts for every demo source department (Art. 9, 20).
ACTS_FOR = {"source_dept": ("dept_market", "dept_hrss", "dept_housing", "dept_transport", "dept_urban")}


def seed(session: Session) -> dict[str, int]:
    """Create whatever of the demo set is missing; never changes what exists."""
    created = {"organisations": 0, "users": 0, "memberships": 0, "catalog_items": 0, "agreements": 0}
    orgs = {o.code: o for o in session.execute(select(Organisation)).scalars()}
    for code, name, name_en, kind, status in ORGANISATIONS:
        if code not in orgs:
            org = Organisation(code=code, name=name, name_en=name_en, kind=kind, status=status,
                               activated_at=clock.now() if status == "active" else None)
            session.add(org)
            orgs[code] = org
            created["organisations"] += 1
    session.flush()
    existing_users = set(session.execute(select(User.username)).scalars())
    password = hash_password(DEMO_PASSWORD)
    for username, display, org_code, roles in USERS:
        if username in existing_users:
            continue
        user = User(username=username, display_name=display, org_id=orgs[org_code].id, password_hash=password,
                    email=f"{username}@demo.grantflow.invalid")
        user.role_rows = [RoleMembership(role=r) for r in roles]
        session.add(user)
        created["users"] += 1
    session.flush()
    created["memberships"] = _seed_acts_for(session, orgs)
    existing_items = set(session.execute(select(CatalogItem.code)).scalars())
    for code, name, name_en, classification, grade, org_code in CATALOG:
        if code not in existing_items:
            session.add(CatalogItem(code=code, name=name, name_en=name_en, classification=classification,
                                    grade=grade, source_org_id=orgs[org_code].id))
            created["catalog_items"] += 1
    created["agreements"] = _seed_agreements(session, orgs)
    session.flush()
    if any(created.values()):
        audit.record(session, "demo.seeded", actor=None, payload=created)
    return created


def _seed_acts_for(session: Session, orgs: dict[str, Organisation]) -> int:
    count = 0
    for username, org_codes in ACTS_FOR.items():
        user = session.execute(select(User).where(User.username == username)).scalar_one()
        have = {(r.role, r.org_id) for r in user.role_rows}
        for code in org_codes:
            for role in ("source_dept", "joint_meeting"):
                if (role, orgs[code].id) not in have:
                    user.role_rows.append(RoleMembership(role=role, org_id=orgs[code].id))
                    count += 1
    return count


def _seed_agreements(session: Session, orgs: dict[str, Organisation]) -> int:
    today = clock.now().date()
    wanted = [
        ("operation", "NS-YY-2025-001", "operator", "authority", date(today.year - 1, 1, 1)),
        ("service", "NS-FW-2025-011", "partner_a", "operator", today - timedelta(days=200)),
        ("service", "NS-FW-2025-012", "partner_b", "operator", today - timedelta(days=120)),
    ]
    existing = set(session.execute(select(Agreement.number)).scalars())
    count = 0
    for kind, number, org_code, counterparty, signed in wanted:
        if number in existing:
            continue
        session.add(Agreement(
            kind=kind, number=number, org_id=orgs[org_code].id, counterparty_org_id=orgs[counterparty].id,
            signed_on=signed, valid_from=signed, valid_until=signed.replace(year=signed.year + 3) - timedelta(days=1),
            scope="公共数据授权运营" if kind == "operation" else "公共数据产品开发与服务",
        ))
        count += 1
    return count
