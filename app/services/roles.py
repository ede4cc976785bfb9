"""The roles of the regime (DOMAIN.md, Parties and roles) and who oversees what."""

from __future__ import annotations

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("流程管理员", "Process administrator"),
    "authority": ("区公共数据主管部门", "Public data authority"),
    "taskforce": ("工作专班", "Working task force"),
    "government": ("区人民政府", "District government"),
    "operator": ("授权运营单位", "Authorized operator"),
    "partner": ("授权合作方", "Authorized partner"),
    "source_dept": ("数源部门", "Data source department"),
    "joint_meeting": ("授权运营联席会议成员单位", "Joint meeting member unit"),
    "third_party": ("第三方机构", "Third-party body"),
    "document_officer": ("文书管理员", "Document officer"),
}

# Roles that may see every process instance (oversight), not only those they take part in.
OVERSIGHT_ROLES = frozenset({"admin", "authority"})

# Roles whose tasks belong to the organisation that owns the instance, never to the role at large.
ORG_BOUND_ROLES = frozenset({"partner"})


def role_label(role: str, locale: str = "zh") -> str:
    zh, en = ROLES.get(role, (role, role))
    return en if locale.startswith("en") else zh
