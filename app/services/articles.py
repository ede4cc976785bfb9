"""The 32 articles of the Nanshan measures (draft 2024-05-20), as steps cite them ("Art. N")."""

from __future__ import annotations

import re

_TITLES: dict[int, tuple[str, str]] = {
    1: ("目的和依据", "Purpose and basis"),
    2: ("适用范围与开放分类", "Scope and open classification"),
    3: ("用语含义", "Definitions"),
    4: ("基本原则", "Principles"),
    5: ("统一平台", "Single platform"),
    6: ("协调机制与工作专班", "Coordination and the task force"),
    7: ("公共数据主管部门职责", "Duties of the public data authority"),
    8: ("授权运营单位职责", "Duties of the authorized operator"),
    9: ("数源部门职责", "Duties of source departments"),
    10: ("相关部门职责", "Duties of other departments"),
    11: ("授权运营单位条件", "Operator qualifications"),
    12: ("授权运营申请", "Operator applications"),
    13: ("综合评审、审定与公示", "Review, approval and public notice"),
    14: ("运营协议与人员管理", "Operation agreement and staff"),
    15: ("授权期限与续期", "Term and renewal"),
    16: ("授权终止", "Termination"),
    17: ("授权运营工作流程", "Operating procedure"),
    18: ("合作方入驻及退出", "Partner onboarding and exit"),
    19: ("数据资源授权申请", "Data authorization requests"),
    20: ("授权审核与联席会议", "Review and the joint meeting"),
    21: ("数据产品和服务审核", "Review of data products and services"),
    22: ("社会数据融合", "Importing social data"),
    23: ("收费", "Fees"),
    24: ("收益分配", "Revenue"),
    25: ("安全责任", "Security responsibility"),
    26: ("授权运营单位安全工作要求", "Security duties of the operator"),
    27: ("授权合作方安全工作要求", "Security duties of partners"),
    28: ("主管部门安全工作要求", "Security duties of the authority"),
    29: ("监督检查", "Supervision and inspection"),
    30: ("法律责任", "Legal liability"),
    31: ("解释", "Interpretation"),
    32: ("施行日期", "Effective date"),
}

ARTICLES: tuple[str, ...] = tuple(f"Art. {n}" for n in _TITLES)

_ART = re.compile(r"^Art\. (\d{1,2})$")


def article_number(article: str) -> int:
    match = _ART.match(article)
    if not match or int(match.group(1)) not in _TITLES:
        raise ValueError(f"unknown article {article!r}")
    return int(match.group(1))


def article_label(article: str, locale: str = "zh") -> str:
    """"Art. 18" -> "第18条 合作方入驻及退出" (zh) or "Art. 18 Partner onboarding and exit" (en)."""
    n = article_number(article)
    zh, en = _TITLES[n]
    return f"Art. {n} {en}" if locale.startswith("en") else f"第{n}条 {zh}"


# Chapters 3-6 (Art. 11-29) govern operation; these articles prescribe steps a process must
# carry out. The others state principles, an overview (Art. 17 lists the procedures that the
# following articles prescribe), revenue sharing (Art. 24) or liability.
PRESCRIBES_STEPS: frozenset[int] = frozenset({11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 26, 27, 28, 29})


def chapter(n: int) -> int:
    """The chapter (1-8) that article ``n`` belongs to."""
    bounds = [(1, 5), (6, 10), (11, 16), (17, 22), (23, 24), (25, 29), (30, 30), (31, 32)]
    return next(i + 1 for i, (lo, hi) in enumerate(bounds) if lo <= n <= hi)
